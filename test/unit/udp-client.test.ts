// The client-side BEP 15 codec against the server-side one (src/protocol/udp.ts): requests it encodes are read back by
// the tracker's parser, replies the tracker writes are read back by decodeUdpReply, and no datagram makes it throw.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createAnnounceRequest } from '../../src/protocol/announce.ts';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ACTION_SCRAPE,
  createUdpRequest,
  MAX_SCRAPE_HASHES,
  parseUdpRequest,
  type UdpRequest,
  writeAnnounceHeader,
  writeConnectReply,
  writeError,
  writeScrapeEntry,
  writeScrapeHeader,
} from '../../src/protocol/udp.ts';
import {
  decodeUdpReply,
  encodeAnnounce,
  encodeConnect,
  encodeScrape,
  type UdpAnnounceFields,
} from '../../src/protocol/udp-client.ts';

function serverParse(datagram: Uint8Array): UdpRequest {
  const req = createUdpRequest(createAnnounceRequest());
  parseUdpRequest(datagram, datagram.length, req);
  return req;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const hash = bytes(20);
const peerSize = fc.constantFrom<6 | 18>(6, 18);

test('connect: the magic, action 0 and the transaction id, as the tracker reads them', () => {
  const datagram = encodeConnect(0xdeadbeef);
  assert.equal(Buffer.from(datagram).toString('hex'), '0000041727101980' + '00000000' + 'deadbeef');
  const req = serverParse(datagram);
  assert.equal(req.action, ACTION_CONNECT);
  assert.equal(req.transactionId, 0xdeadbeef);
});

const announceFields: fc.Arbitrary<UdpAnnounceFields> = fc.record({
  connectionId: bytes(8),
  transactionId: u32,
  infoHash: hash,
  peerId: bytes(20),
  downloaded: fc.maxSafeNat(),
  left: fc.maxSafeNat(),
  uploaded: fc.maxSafeNat(),
  event: fc.integer({ min: 0, max: 3 }),
  key: u32,
  numWant: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  port: fc.integer({ min: 0, max: 65535 }),
});

test('property: an announce round-trips through the tracker’s parser', () => {
  fc.assert(
    fc.property(announceFields, (f) => {
      const datagram = encodeAnnounce(f);
      assert.equal(datagram.length, 98);
      const req = serverParse(datagram);
      assert.equal(req.action, ACTION_ANNOUNCE);
      assert.equal(req.error, '');
      assert.equal(req.transactionId, f.transactionId);
      assert.deepEqual(Buffer.from(datagram.subarray(0, 8)), Buffer.from(f.connectionId));
      const a = req.announce;
      assert.deepEqual(new Uint8Array(a.infoHash), f.infoHash);
      assert.deepEqual(new Uint8Array(a.peerId), f.peerId);
      assert.deepEqual([a.downloaded, a.left, a.uploaded], [f.downloaded, f.left, f.uploaded]);
      assert.deepEqual([a.event, a.numwant, a.port], [f.event, f.numWant, f.port]);
      assert.equal(Buffer.from(datagram).readUInt32BE(88), f.key);
      assert.equal(Buffer.from(datagram).readUInt32BE(84), 0, 'no claimed IPv4 address');
    }),
  );
});

test('property: a scrape round-trips through the tracker’s parser', () => {
  fc.assert(
    fc.property(bytes(8), u32, fc.array(hash, { minLength: 1, maxLength: MAX_SCRAPE_HASHES }), (id, tid, hashes) => {
      const datagram = encodeScrape(id, tid, hashes);
      const req = serverParse(datagram);
      assert.equal(req.action, ACTION_SCRAPE);
      assert.equal(req.transactionId, tid);
      assert.equal(req.scrapeCount, hashes.length);
      hashes.forEach((h, i) => {
        const at = req.scrapeOffset + 20 * i;
        assert.deepEqual(datagram.subarray(at, at + 20), h);
      });
    }),
  );
});

test('a scrape of no hash or more than 74 is refused before sending', () => {
  const id = new Uint8Array(8);
  assert.throws(() => encodeScrape(id, 1, []), RangeError);
  assert.throws(() =>
    encodeScrape(
      id,
      1,
      Array.from({ length: MAX_SCRAPE_HASHES + 1 }, () => new Uint8Array(20)),
    ),
  );
  assert.throws(() => encodeScrape(id, 1, [new Uint8Array(19)]), RangeError);
});

test('property: replies the tracker writes decode to the same fields', () => {
  const out = new Uint8Array(2048);
  fc.assert(
    fc.property(u32, u32, u32, (tid, hi, lo) => {
      const n = writeConnectReply(out, tid, hi, lo);
      const reply = decodeUdpReply(out.subarray(0, n), 6);
      assert.equal(reply.action, 'connect');
      assert.equal(reply.transactionId, tid);
      if (reply.action === 'connect') {
        const id = Buffer.from(reply.connectionId);
        assert.deepEqual([id.readUInt32BE(0), id.readUInt32BE(4)], [hi, lo]);
      }
    }),
  );
  fc.assert(
    fc.property(u32, u32, u32, u32, peerSize, fc.nat(20), (tid, interval, leechers, seeders, size, count) => {
      let n = writeAnnounceHeader(out, tid, interval, leechers, seeders);
      const peers = new Uint8Array(size * count).map((_, i) => i);
      out.set(peers, n);
      n += peers.length;
      const reply = decodeUdpReply(out.subarray(0, n), size);
      assert.deepEqual(reply, { action: 'announce', transactionId: tid, interval, leechers, seeders, peers });
    }),
  );
  fc.assert(
    fc.property(u32, fc.array(fc.tuple(u32, u32, u32), { maxLength: MAX_SCRAPE_HASHES }), (tid, counts) => {
      let n = writeScrapeHeader(out, tid);
      for (const [seeders, completed, leechers] of counts) n = writeScrapeEntry(out, n, seeders, completed, leechers);
      const reply = decodeUdpReply(out.subarray(0, n), 6);
      const entries = counts.map(([seeders, completed, leechers]) => ({ seeders, completed, leechers }));
      assert.deepEqual(reply, { action: 'scrape', transactionId: tid, entries });
    }),
  );
  fc.assert(
    fc.property(u32, fc.stringMatching(/^[ -~]{0,100}$/), (tid, message) => {
      const n = writeError(out, tid, message, 1500);
      assert.deepEqual(decodeUdpReply(out.subarray(0, n), 18), { action: 'error', transactionId: tid, message });
    }),
  );
});

test('short or inconsistent replies are malformed, with the transaction id when it was readable', () => {
  const hex = (h: string) => Buffer.from(h.replaceAll(' ', ''), 'hex');
  assert.deepEqual(decodeUdpReply(hex('00000001 000000'), 6), {
    action: 'malformed',
    transactionId: null,
    reason: '7-byte datagram, less than a header',
  });
  // opentracker's reply to an announce of a hash it does not serve: an announce header cut after 8 bytes.
  const cut = decodeUdpReply(hex('00000001 0000002a'), 6);
  assert.equal(cut.action, 'malformed');
  assert.equal(cut.transactionId, 42);
  assert.equal(decodeUdpReply(hex('00000000 00000001 0000'), 6).action, 'malformed');
  const announce = hex('00000001 00000001 00000708 00000001 00000002');
  assert.equal(decodeUdpReply(Buffer.concat([announce, Buffer.alloc(6)]), 6).action, 'announce');
  assert.equal(decodeUdpReply(Buffer.concat([announce, Buffer.alloc(6)]), 18).action, 'malformed');
  assert.equal(decodeUdpReply(Buffer.concat([announce, Buffer.alloc(18)]), 6).action, 'announce');
  assert.equal(decodeUdpReply(Buffer.concat([announce, Buffer.alloc(7)]), 6).action, 'malformed');
  assert.equal(decodeUdpReply(hex('00000002 00000001 00000000 00000000'), 6).action, 'malformed');
  assert.deepEqual(decodeUdpReply(hex('00000004 00000009'), 6), {
    action: 'malformed',
    transactionId: 9,
    reason: 'unknown action 4',
  });
});

test('property: any datagram decodes to a reply or to malformed, never an exception', () => {
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    // Datagrams that start like replies, so that the per-action checks run and not only the action check.
    fc.tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 200 })).map(([action, rest]) => {
      const b = new Uint8Array(4 + rest.length);
      b[3] = action;
      b.set(rest, 4);
      return b;
    }),
  );
  fc.assert(
    fc.property(datagram, peerSize, (d, size) => {
      const reply = decodeUdpReply(d, size);
      assert.ok(['connect', 'announce', 'scrape', 'error', 'malformed'].includes(reply.action));
      if (reply.action === 'announce') assert.equal(reply.peers.length % size, 0);
      if (reply.action === 'scrape') assert.equal(reply.entries.length, (d.length - 8) / 12);
      if (reply.action !== 'malformed') assert.equal(reply.transactionId, Buffer.from(d).readUInt32BE(4));
    }),
    { numRuns: 2000 },
  );
});
