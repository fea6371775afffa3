// The query tool's readers of HTTP tracker replies: what they take from well-formed replies, the reason they give for
// hostile ones, and (property) that no body makes them fail in any other way than a QueryError or MalformedReply.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { QueryError } from '../../src/cli/query/exchange.ts';
import { decodeReply } from '../../src/cli/query/http-tracker.ts';
import { MalformedReply, readAnnounceReply, readScrapeReply } from '../../src/cli/query/replies.ts';
import { type BValue, encode } from '../../src/protocol/bencode.ts';

const b = (text: string) => Buffer.from(text, 'latin1');
const announce = (dict: Record<string, BValue>) => readAnnounceReply(decodeReply(encode(dict)));
const scrape = (dict: Record<string, BValue>) => readScrapeReply(decodeReply(encode(dict)));

function malformed(run: () => unknown, reason: RegExp): void {
  assert.throws(run, (err: Error) => err instanceof MalformedReply && reason.test(err.message));
}

test('announce: every field, compact peers and peers6 (an IPv4-mapped one marked)', () => {
  const peers = Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 2, 0, 80]);
  const peers6 = Buffer.concat([
    Buffer.from('20010db8000000000000000000000001', 'hex'),
    Buffer.from([0x1a, 0xe2]),
    Buffer.from('00000000000000000000ffff7f000001', 'hex'),
    Buffer.from([0, 1]),
  ]);
  const info = announce({
    interval: 1800,
    'min interval': 60,
    complete: 3,
    incomplete: 4,
    downloaded: 5,
    'external ip': Buffer.from([127, 0, 0, 1]),
    'tracker id': b('abc'),
    'warning message': b('slow down'),
    peers,
    peers6,
  });
  assert.deepEqual(info, {
    failure: null,
    warning: 'slow down',
    interval: 1800,
    minInterval: 60,
    seeds: 3,
    leechers: 4,
    downloaded: 5,
    externalIp: '127.0.0.1',
    trackerId: 'abc',
    ipv4Peers: 2,
    ipv6Peers: 2,
    ipv4Bytes: 12,
    ipv6Bytes: 36,
    peers: [
      { ip: '10.0.0.1', port: 6881, type: 'ipv4', peerId: null },
      { ip: '192.168.1.2', port: 80, type: 'ipv4', peerId: null },
      { ip: '2001:db8::1', port: 6882, type: 'ipv6', peerId: null },
      { ip: '::ffff:127.0.0.1', port: 1, type: 'ipv4-mapped', peerId: null },
    ],
  });
});

test('announce: the dictionary model, a text external ip, a failure with nothing else', () => {
  const info = announce({
    interval: 10,
    'external ip': b('2001:db8::7'),
    peers: [
      { ip: b('10.1.2.3'), port: 1, 'peer id': b('-XX0001-abcdefghijkl') },
      { ip: b('peer.example'), port: 2 },
      { ip: b('::1'), port: 3 },
    ],
  });
  assert.equal(info.externalIp, '2001:db8::7');
  assert.deepEqual(
    info.peers.map((p) => [p.ip, p.port, p.type, p.peerId]),
    [
      ['10.1.2.3', 1, 'ipv4', Buffer.from('-XX0001-abcdefghijkl').toString('hex')],
      ['peer.example', 2, 'hostname', null],
      ['::1', 3, 'ipv6', null],
    ],
  );
  assert.deepEqual([info.ipv4Peers, info.ipv6Peers, info.ipv4Bytes], [1, 1, 0]);
  const failed = announce({ 'failure reason': b('not registered') });
  assert.equal(failed.failure, 'not registered');
  assert.equal(failed.interval, null);
  assert.deepEqual(failed.peers, []);
});

test('announce: hostile replies name the field', () => {
  malformed(() => readAnnounceReply([1, 2]), /the reply is not a dictionary/);
  malformed(() => announce({ complete: 1 }), /no 'interval' and no 'failure reason'/);
  malformed(() => announce({ interval: -1 }), /'interval' is not a whole number/);
  malformed(() => announce({ interval: 2n ** 60n }), /'interval' is not a whole number/);
  malformed(() => announce({ interval: b('1800') }), /'interval' is not a whole number/);
  malformed(() => announce({ 'failure reason': 7 }), /'failure reason' is not a byte string/);
  malformed(() => announce({ interval: 1, peers: Buffer.alloc(7) }), /'peers' is 7 bytes, not a multiple of 6/);
  malformed(() => announce({ interval: 1, peers6: Buffer.alloc(6) }), /'peers6' is 6 bytes, not a multiple of 18/);
  malformed(() => announce({ interval: 1, peers6: [] }), /'peers6' is not a byte string/);
  malformed(() => announce({ interval: 1, peers: 5 }), /'peers' is neither/);
  malformed(() => announce({ interval: 1, peers: [b('x')] }), /peer 1 is not a dictionary/);
  malformed(() => announce({ interval: 1, peers: [{ port: 1 }] }), /no 'ip' in peer 1/);
  malformed(() => announce({ interval: 1, peers: [{ ip: b('1.2.3.4'), port: 70000 }] }), /no 'port' from 0 to 65535/);
  malformed(() => announce({ interval: 1, 'external ip': b('nonsense') }), /'external ip'/);
});

test('scrape: files with and without downloaded and name, min_request_interval, a failure', () => {
  const h1 = Buffer.alloc(20, 0xaa);
  const h2 = Buffer.alloc(20, 0x01);
  const info = scrape({
    files: {
      [h1.toString('latin1')]: { complete: 1, incomplete: 2, downloaded: 3, name: b('debian.iso') },
      [h2.toString('latin1')]: { complete: 0, incomplete: 5 },
    },
    flags: { min_request_interval: 900 },
  });
  assert.deepEqual(info, {
    failure: null,
    minRequestInterval: 900,
    torrents: [
      { infoHash: h2.toString('hex'), complete: 0, incomplete: 5, downloaded: null, name: null },
      { infoHash: h1.toString('hex'), complete: 1, incomplete: 2, downloaded: 3, name: 'debian.iso' },
    ],
  });
  assert.deepEqual(scrape({ files: {} }).torrents, []);
  assert.deepEqual(scrape({ 'failure reason': b('full scrape not allowed') }), {
    failure: 'full scrape not allowed',
    minRequestInterval: null,
    torrents: [],
  });
});

test('scrape: hostile replies name the field', () => {
  malformed(() => scrape({}), /no 'files' and no 'failure reason'/);
  malformed(() => scrape({ files: [] }), /'files' is not a dictionary/);
  malformed(() => scrape({ files: { short: { complete: 1, incomplete: 1 } } }), /5 bytes, not a 20-byte hash/);
  const key = 'k'.repeat(20);
  malformed(() => scrape({ files: { [key]: 3 } }), /the entry of 6b6b.* is not a dictionary/);
  malformed(() => scrape({ files: { [key]: { complete: 1 } } }), /no 'incomplete' in the entry of/);
  malformed(() => scrape({ files: { [key]: { complete: 1, incomplete: 1, name: 4 } } }), /'name' is not a byte string/);
  malformed(() => scrape({ files: {}, flags: 1 }), /'flags' is not a dictionary/);
});

test('bodies that are not bencode: empty, truncated, trailing bytes; the start is shown safely', () => {
  const undecodable = (body: string, reason: RegExp) =>
    assert.throws(
      () => decodeReply(b(body)),
      (err: Error) => err instanceof QueryError && reason.test(err.message),
    );
  undecodable('', /the body is empty/);
  undecodable('d8:intervali1800e', /unexpected end of input; it starts 'd8:intervali1800…'/);
  undecodable('de!', /trailing bytes at offset 2/);
  undecodable('<html>\x1b[31m</html>', /unexpected byte 0x3c at offset 0; it starts '<html>\\x1b\[31m<\/htm…'/);
  // Keys out of order are read: the tool reports what a tracker said.
  assert.deepEqual({ ...(decodeReply(b('d1:bi1e1:ai2ee')) as object) }, { b: 1, a: 2 });
});

/** Any bencode value, biased towards the keys and shapes the readers look at. */
const bvalue: fc.Arbitrary<BValue> = fc.letrec<{ value: BValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer({ min: -5, max: 70000 }),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n }),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(...[4, 6, 16, 18, 20].map((n) => new Uint8Array(n))),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'interval',
          'min interval',
          'complete',
          'incomplete',
          'downloaded',
          'peers',
          'peers6',
          'failure reason',
          'warning message',
          'external ip',
          'tracker id',
          'files',
          'flags',
          'min_request_interval',
          'ip',
          'port',
          'peer id',
          'name',
          'k'.repeat(20),
        ),
        fc.string({ maxLength: 20 }),
      ),
      tie('value'),
      { maxKeys: 6 },
    ),
  ),
})).value;

test('property: any bencode value is read or refused as MalformedReply, nothing else', () => {
  fc.assert(
    fc.property(bvalue, (value) => {
      for (const read of [readAnnounceReply, readScrapeReply]) {
        try {
          read(value);
        } catch (err) {
          assert.ok(err instanceof MalformedReply, String(err));
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: any body decodes or is refused as QueryError; re-encoded replies read the same', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (body) => {
      try {
        decodeReply(body);
      } catch (err) {
        assert.ok(err instanceof QueryError, String(err));
      }
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(bvalue, (value) => {
      let direct: unknown;
      try {
        direct = readAnnounceReply(value);
      } catch (err) {
        direct = (err as Error).message;
      }
      let viaBytes: unknown;
      try {
        viaBytes = readAnnounceReply(decodeReply(encode(value)));
      } catch (err) {
        viaBytes = (err as Error).message;
      }
      assert.deepEqual(viaBytes, direct);
    }),
  );
});
