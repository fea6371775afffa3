import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createAnnounceRequest, EVENT_NONE } from '../../src/protocol/announce.ts';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ACTION_ERROR,
  ACTION_SCRAPE,
  ANNOUNCE_REQUEST_SIZE,
  createUdpRequest,
  MAX_SCRAPE_HASHES,
  parseOptions,
  parseUdpRequest,
  type UdpRequest,
  writeAnnounceHeader,
  writeConnectReply,
  writeError,
  writeScrapeEntry,
  writeScrapeHeader,
  writeU32,
} from '../../src/protocol/udp.ts';

const MAGIC = 0x41727101980n;

function parse(buf: Uint8Array, length = buf.length): UdpRequest {
  const req = createUdpRequest(createAnnounceRequest());
  parseUdpRequest(buf, length, req);
  return req;
}

function connectRequest(transactionId: number, magic = MAGIC): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(magic, 0);
  b.writeUInt32BE(ACTION_CONNECT, 8);
  b.writeUInt32BE(transactionId, 12);
  return b;
}

interface AnnounceFields {
  connectionId: bigint;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  downloaded: bigint;
  left: bigint;
  uploaded: bigint;
  event: number;
  ip: number;
  key: number;
  numWant: number;
  port: number;
}

/** A BEP 15 announce request, laid out with Buffer writes at the offsets the spec gives. */
function announceRequest(f: AnnounceFields, options: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(98);
  b.writeBigUInt64BE(f.connectionId, 0);
  b.writeUInt32BE(ACTION_ANNOUNCE, 8);
  b.writeUInt32BE(f.transactionId, 12);
  b.set(f.infoHash, 16);
  b.set(f.peerId, 36);
  b.writeBigUInt64BE(f.downloaded, 56);
  b.writeBigUInt64BE(f.left, 64);
  b.writeBigUInt64BE(f.uploaded, 72);
  b.writeUInt32BE(f.event, 80);
  b.writeUInt32BE(f.ip, 84);
  b.writeUInt32BE(f.key, 88);
  b.writeInt32BE(f.numWant, 92);
  b.writeUInt16BE(f.port, 96);
  return Buffer.concat([b, options]);
}

const SAMPLE: AnnounceFields = {
  connectionId: 0x0123456789abcdefn,
  transactionId: 0xdeadbeef,
  infoHash: Buffer.from('aa'.repeat(20), 'hex'),
  peerId: Buffer.from('-UT3550-123456789012', 'latin1'),
  downloaded: 1000n,
  left: 2000n,
  uploaded: 3000n,
  event: 2,
  ip: 0,
  key: 0x12345678,
  numWant: -1,
  port: 6881,
};

test('connect with the magic is ACTION_CONNECT; without it the datagram is dropped', () => {
  const req = parse(connectRequest(0x01020304));
  assert.equal(req.action, ACTION_CONNECT);
  assert.equal(req.transactionId, 0x01020304);
  assert.equal(req.error, '');
  for (const magic of [0n, MAGIC + 1n, MAGIC ^ (1n << 40n), MAGIC << 1n, 0xffffffffffffffffn]) {
    assert.equal(parse(connectRequest(1, magic)).action, -1, magic.toString(16));
  }
  // Extra bytes after a connect request do not matter.
  assert.equal(parse(Buffer.concat([connectRequest(7), Buffer.alloc(10)])).action, ACTION_CONNECT);
});

test('datagrams shorter than 16 bytes are dropped', () => {
  const connect = connectRequest(5);
  const announce = announceRequest(SAMPLE);
  for (let n = 0; n < 16; n++) {
    assert.equal(parse(connect.subarray(0, n)).action, -1, `connect cut at ${n}`);
    // `length` rules, not the buffer's size.
    assert.equal(parse(connect, n).action, -1, `connect with length ${n}`);
    assert.equal(parse(announce, n).action, -1, `announce with length ${n}`);
  }
});

test('unknown actions are dropped', () => {
  for (const action of [3, 4, 0x100, 0xffffffff]) {
    const b = connectRequest(1);
    b.writeUInt32BE(action, 8);
    assert.equal(parse(Buffer.concat([b, Buffer.alloc(100)])).action, -1, String(action));
  }
});

test('announce fields are read at the BEP 15 offsets', () => {
  const req = parse(announceRequest({ ...SAMPLE, numWant: 50, event: 3, port: 0xfedc }));
  assert.equal(req.action, ACTION_ANNOUNCE);
  assert.equal(req.error, '');
  assert.equal(req.transactionId, 0xdeadbeef);
  assert.equal(req.connectionIdHi, 0x01234567);
  assert.equal(req.connectionIdLo, 0x89abcdef);
  const a = req.announce;
  assert.deepEqual(a.infoHash, Buffer.from(SAMPLE.infoHash));
  assert.deepEqual(a.peerId, Buffer.from(SAMPLE.peerId));
  assert.equal(a.downloaded, 1000);
  assert.equal(a.left, 2000);
  assert.equal(a.uploaded, 3000);
  assert.equal(a.event, 3);
  assert.equal(a.numwant, 50);
  assert.equal(a.port, 0xfedc);
  assert.equal(a.urlData, '');
});

test('announce event values, num_want and 64-bit counters', () => {
  for (const event of [0, 1, 2, 3]) assert.equal(parse(announceRequest({ ...SAMPLE, event })).announce.event, event);
  // Event numbers past "stopped" are not events.
  for (const event of [4, 5, 0xffffffff]) {
    assert.equal(parse(announceRequest({ ...SAMPLE, event })).announce.event, EVENT_NONE);
  }
  for (const [numWant, want] of [
    [-1, -1],
    [-2, -1],
    [-2147483648, -1],
    [0, 0],
    [1, 1],
    [2147483647, 2147483647],
  ]) {
    assert.equal(parse(announceRequest({ ...SAMPLE, numWant })).announce.numwant, want, String(numWant));
  }
  const big = parse(
    announceRequest({ ...SAMPLE, left: 0xffffffffffffffffn, uploaded: 2n ** 32n, downloaded: 2n ** 53n - 1n }),
  );
  assert.equal(big.announce.left, 2 ** 64);
  assert.equal(big.announce.uploaded, 2 ** 32);
  assert.equal(big.announce.downloaded, Number.MAX_SAFE_INTEGER);
});

test("announce shorter than 98 bytes is refused with 'announce too short'", () => {
  const full = announceRequest(SAMPLE);
  for (let n = 16; n < ANNOUNCE_REQUEST_SIZE; n++) {
    const req = parse(full.subarray(0, n));
    assert.equal(req.action, ACTION_ANNOUNCE);
    assert.equal(req.error, 'announce too short');
    assert.equal(req.transactionId, SAMPLE.transactionId);
  }
  assert.equal(parse(full).error, '');
});

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const announceFields: fc.Arbitrary<AnnounceFields> = fc.record({
  connectionId: u64,
  transactionId: u32,
  infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  peerId: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  downloaded: fc.oneof(u64, fc.bigInt({ min: 0n, max: 2n ** 53n })),
  left: fc.oneof(u64, fc.bigInt({ min: 0n, max: 2n ** 40n })),
  uploaded: fc.oneof(u64, fc.bigInt({ min: 0n, max: 2n ** 53n })),
  event: fc.oneof(fc.integer({ min: 0, max: 5 }), u32),
  ip: u32,
  key: u32,
  numWant: fc.oneof(fc.integer({ min: -3, max: 200 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
  port: fc.integer({ min: 0, max: 65535 }),
});

test('property: announce fields round-trip through the BEP 15 layout', () => {
  fc.assert(
    fc.property(announceFields, (f) => {
      const req = parse(announceRequest(f));
      assert.equal(req.action, ACTION_ANNOUNCE);
      assert.equal(req.error, '');
      assert.equal(req.transactionId, f.transactionId);
      assert.equal(req.connectionIdHi, Number(f.connectionId >> 32n));
      assert.equal(req.connectionIdLo, Number(f.connectionId & 0xffffffffn));
      const a = req.announce;
      assert.deepEqual(Uint8Array.from(a.infoHash), f.infoHash);
      assert.deepEqual(Uint8Array.from(a.peerId), f.peerId);
      // Number(bigint) rounds to nearest, as does hi * 2^32 + lo: exact below 2^53, same rounding above.
      assert.equal(a.downloaded, Number(f.downloaded));
      assert.equal(a.left, Number(f.left));
      assert.equal(a.uploaded, Number(f.uploaded));
      assert.equal(a.event, f.event <= 3 ? f.event : EVENT_NONE);
      assert.equal(a.numwant, f.numWant < 0 ? -1 : f.numWant);
      assert.equal(a.port, f.port);
      assert.equal(a.urlData, '');
    }),
    { numRuns: 300 },
  );
});

function option(type: number, data: string | number[]): number[] {
  const bytes = typeof data === 'string' ? [...Buffer.from(data, 'latin1')] : data;
  return [type, bytes.length, ...bytes];
}

function options(...parts: number[][]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

test('BEP 41 options: URL data concatenated, NOP skipped, END stops, unknown skipped, truncation stops', () => {
  const opts = (...parts: number[][]) => {
    const o = options(...parts);
    // parseOptions on a range inside a larger buffer.
    const buf = Uint8Array.from([9, 9, ...o, 2, 3, 0x41, 0x42, 0x43]);
    return parseOptions(buf, 2, 2 + o.length);
  };
  assert.equal(opts(option(2, '/announce'), option(2, '?passkey=abc')), '/announce?passkey=abc');
  assert.equal(opts([1, 1], option(2, '/a'), [1], option(2, 'b')), '/ab');
  assert.equal(opts(option(2, '/a'), [0], option(2, '/b')), '/a');
  assert.equal(opts([0], option(2, '/a')), '');
  assert.equal(opts(option(7, 'zz'), option(2, '/x'), option(0xff, [1, 2, 3]), option(2, 'y')), '/xy');
  assert.equal(opts(option(2, ''), option(2, 'q')), 'q');
  // Truncated: the declared length runs past the end; or the length byte itself is missing.
  assert.equal(opts(option(2, '/a'), [2, 10, 0x61, 0x62]), '/a');
  assert.equal(opts(option(2, '/a'), [2]), '/a');
  assert.equal(opts(option(2, '/a'), [7]), '/a');
  assert.equal(opts(option(2, '/a'), [7, 5, 1]), '/a');
  assert.equal(opts(), '');
  // Bytes are kept as latin1, one char per byte.
  assert.equal(opts(option(2, [0x00, 0x80, 0xff])), '\x00\x80\xff');
  // Through an announce.
  const req = parse(
    announceRequest(SAMPLE, options([1], option(2, '/announce'), option(2, '/secret'), [0], [2, 1, 0x5a])),
  );
  assert.equal(req.error, '');
  assert.equal(req.announce.urlData, '/announce/secret');
  assert.equal(req.announce.port, SAMPLE.port);
});

type Opt = { kind: 'url'; data: number[] } | { kind: 'nop' } | { kind: 'other'; type: number; data: number[] };
const opt: fc.Arbitrary<Opt> = fc.oneof(
  fc.record({
    kind: fc.constant('url' as const),
    data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 255 }),
  }),
  fc.record({ kind: fc.constant('nop' as const) }),
  fc.record({
    kind: fc.constant('other' as const),
    type: fc.integer({ min: 3, max: 255 }),
    data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
  }),
);

test('property: parseOptions returns the concatenated URL data of a well-formed option list', () => {
  fc.assert(
    fc.property(fc.array(opt, { maxLength: 8 }), fc.boolean(), fc.uint8Array({ maxLength: 20 }), (list, end, tail) => {
      const bytes: number[] = [];
      let want = '';
      for (const o of list) {
        if (o.kind === 'nop') bytes.push(1);
        else if (o.kind === 'url') {
          bytes.push(...option(2, o.data));
          want += Buffer.from(o.data).toString('latin1');
        } else bytes.push(...option(o.type, o.data));
      }
      // After END anything may follow and is ignored.
      if (end) bytes.push(0, ...tail);
      assert.equal(parseOptions(Uint8Array.from(bytes), 0, bytes.length), want);
    }),
    { numRuns: 300 },
  );
});

test('property: parseOptions on arbitrary bytes never throws nor reads past the end', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
      const end = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
      const url = parseOptions(bytes, 0, end);
      assert.equal(typeof url, 'string');
      assert.ok(url.length <= Math.max(0, end - 2));
      // Only bytes in [0, end) may matter.
      const copy = Uint8Array.from(bytes);
      copy.fill(2, end);
      assert.equal(parseOptions(copy, 0, end), url);
    }),
    { numRuns: 500 },
  );
});

test('scrape counts whole hashes, caps at 74, and needs at least one', () => {
  const scrape = (hashBytes: number) => {
    const b = Buffer.alloc(16 + hashBytes);
    b.writeBigUInt64BE(0x1122334455667788n, 0);
    b.writeUInt32BE(ACTION_SCRAPE, 8);
    b.writeUInt32BE(99, 12);
    return parse(b);
  };
  assert.equal(MAX_SCRAPE_HASHES, 74);
  for (const [bytes, count] of [
    [20, 1],
    [39, 1],
    [40, 2],
    [41, 2],
    [20 * 74, 74],
    [20 * 75, 74],
    [20 * 200 + 7, 74],
  ]) {
    const req = scrape(bytes);
    assert.equal(req.action, ACTION_SCRAPE);
    assert.equal(req.transactionId, 99);
    assert.equal(req.scrapeOffset, 16);
    assert.equal(req.scrapeCount, count, `${bytes} bytes`);
    assert.equal(req.error, '');
  }
  for (const bytes of [0, 1, 19]) {
    const req = scrape(bytes);
    assert.equal(req.action, ACTION_SCRAPE);
    assert.equal(req.scrapeCount, 0);
    assert.match(req.error, /info_hash/);
  }
});

test('reply writers produce the BEP 15 layout', () => {
  const out = Buffer.alloc(64, 0xee);
  assert.equal(writeConnectReply(out, 0xcafebabe, 0x01020304, 0xf1f2f3f4), 16);
  assert.deepEqual(out.subarray(0, 16), Buffer.from('00000000cafebabe01020304f1f2f3f4', 'hex'));

  out.fill(0xee);
  assert.equal(writeAnnounceHeader(out, 7, 1800, 3, 0xfffffffe), 20);
  assert.equal(out.readUInt32BE(0), ACTION_ANNOUNCE);
  assert.equal(out.readUInt32BE(4), 7);
  assert.equal(out.readUInt32BE(8), 1800);
  assert.equal(out.readUInt32BE(12), 3);
  assert.equal(out.readUInt32BE(16), 0xfffffffe);
  assert.equal(out[20], 0xee);

  out.fill(0xee);
  assert.equal(writeScrapeHeader(out, 0x80000001), 8);
  assert.deepEqual(out.subarray(0, 8), Buffer.from('0000000280000001', 'hex'));
  assert.equal(writeScrapeEntry(out, 8, 10, 20, 30), 20);
  assert.equal(writeScrapeEntry(out, 20, 1, 2, 3), 32);
  // seeders, completed, leechers
  assert.deepEqual(
    [8, 12, 16, 20, 24, 28].map((o) => out.readUInt32BE(o)),
    [10, 20, 30, 1, 2, 3],
  );
  assert.equal(out[32], 0xee);

  writeU32(out, 40, 0xffffffff);
  assert.equal(out.readUInt32BE(40), 0xffffffff);
  writeU32(out, 40, -1);
  assert.equal(out.readUInt32BE(40), 0xffffffff);
});

test('property: reply writers agree with Buffer.writeUInt32BE', () => {
  fc.assert(
    fc.property(u32, u32, u32, u32, u32, (a, b, c, d, e) => {
      const out = Buffer.alloc(20);
      const ref = Buffer.alloc(20);
      writeAnnounceHeader(out, a, b, c, d);
      for (const [k, v] of [ACTION_ANNOUNCE, a, b, c, d].entries()) ref.writeUInt32BE(v, 4 * k);
      assert.deepEqual(out, ref);
      writeConnectReply(out, a, b, c);
      for (const [k, v] of [ACTION_CONNECT, a, b, c].entries()) ref.writeUInt32BE(v, 4 * k);
      assert.deepEqual(out.subarray(0, 16), ref.subarray(0, 16));
      writeScrapeEntry(out, 4, c, d, e);
      assert.deepEqual([out.readUInt32BE(4), out.readUInt32BE(8), out.readUInt32BE(12)], [c, d, e]);
    }),
    { numRuns: 200 },
  );
});

test('writeError writes action 3, the transaction id and the message', () => {
  const out = Buffer.alloc(100, 0xee);
  const n = writeError(out, 0x11223344, 'announce too short', 100);
  assert.equal(n, 8 + 'announce too short'.length);
  assert.equal(out.readUInt32BE(0), ACTION_ERROR);
  assert.equal(out.readUInt32BE(4), 0x11223344);
  assert.equal(out.subarray(8, n).toString('latin1'), 'announce too short');
  assert.equal(out[n], 0xee);
  // Cut to fit a 16-byte request.
  assert.equal(writeError(out, 1, 'announce too short', 16), 16);
  assert.equal(out.subarray(8, 16).toString('latin1'), 'announce');
});

const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

test('property: writeError never exceeds maxSize and writes nothing past what it returns', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: utf16Unit, maxLength: 50 })),
      fc.integer({ min: 8, max: 300 }),
      u32,
      (message, maxSize, tid) => {
        const out = Buffer.alloc(512, 0xee);
        const n = writeError(out, tid, message, maxSize);
        assert.ok(n <= maxSize, `${n} > ${maxSize}`);
        assert.equal(n, 8 + Math.min(message.length, maxSize - 8));
        assert.equal(out.readUInt32BE(0), ACTION_ERROR);
        assert.equal(out.readUInt32BE(4), tid);
        assert.ok(
          out.subarray(8, n).every((b) => b < 0x80),
          'message bytes are 7-bit',
        );
        assert.ok(
          out.subarray(n).every((b) => b === 0xee),
          'nothing written past the end',
        );
        if (/^[\x20-\x7e]*$/.test(message))
          assert.equal(out.subarray(8, n).toString('latin1'), message.slice(0, n - 8));
      },
    ),
    { numRuns: 300 },
  );
});

/** What any parse result must satisfy, whatever the datagram. */
function checkRequest(buf: Uint8Array, length: number): void {
  const req = parse(buf, length);
  assert.ok([-1, ACTION_CONNECT, ACTION_ANNOUNCE, ACTION_SCRAPE].includes(req.action), `action ${req.action}`);
  if (length < 16) assert.equal(req.action, -1);
  if (req.action === ACTION_SCRAPE) {
    assert.ok(req.scrapeCount >= 0 && req.scrapeCount <= MAX_SCRAPE_HASHES);
    assert.ok(req.scrapeOffset + req.scrapeCount * 20 <= length);
    assert.equal(req.error === '', req.scrapeCount > 0);
  }
  if (req.action === ACTION_ANNOUNCE && req.error === '') {
    const a = req.announce;
    assert.ok(length >= ANNOUNCE_REQUEST_SIZE);
    assert.ok(a.port >= 0 && a.port <= 65535);
    assert.ok(a.numwant >= -1);
    assert.ok(a.event >= 0 && a.event <= 3);
    assert.ok(a.urlData.length <= length - ANNOUNCE_REQUEST_SIZE);
  }
}

test('property: arbitrary datagrams never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (buf) => checkRequest(buf, buf.length)),
    { numRuns: 500 },
  );
  // Datagrams with a valid header and arbitrary bodies, for each action.
  fc.assert(
    fc.property(
      fc.constantFrom(0, 1, 2, 3),
      fc.boolean(),
      fc.uint8Array({ maxLength: 400 }),
      fc.nat(),
      (action, magic, body, cut) => {
        const head = connectRequest(1, magic ? MAGIC : 0n);
        head.writeUInt32BE(action, 8);
        const buf = Buffer.concat([head, body]);
        checkRequest(buf, buf.length);
        // A reused buffer with a shorter datagram in it.
        checkRequest(buf, cut % (buf.length + 1));
      },
    ),
    { numRuns: 500 },
  );
  // Valid announces followed by arbitrary option bytes.
  fc.assert(
    fc.property(announceFields, fc.uint8Array({ maxLength: 300 }), (f, opts) => {
      const buf = announceRequest(f, opts);
      checkRequest(buf, buf.length);
    }),
    { numRuns: 300 },
  );
});
