// Fuzz target: the BEP 15 codec (parseUdpRequest) and UdpHandler, datagram in and at most one reply out, on a real
// tracker with swarms in it. Datagrams are connects, announces and scrapes — with the connection id issued to the
// sender, one issued to another address, one from a window not yet open, or random bytes — mutated, and arbitrary
// bytes. Every reply must be one the query tool's decoder reads, carry the request's transaction id, and be no larger
// than the request unless it is an accepted announce (no amplification); nothing but an accepted announce may change
// the swarm, and nothing is written past the reply.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { UDP_V6_MAX_PEERS, UdpHandler } from '../../src/net/udp-handler.ts';
import {
  createAnnounceRequest,
  EVENT_COMPLETED,
  EVENT_NONE,
  EVENT_STARTED,
  EVENT_STOPPED,
} from '../../src/protocol/announce.ts';
import {
  ANNOUNCE_REQUEST_SIZE,
  CONNECT_REQUEST_SIZE,
  createUdpRequest,
  MAX_SCRAPE_HASHES,
  parseUdpRequest,
  type UdpRequest,
} from '../../src/protocol/udp.ts';
import { decodeUdpReply } from '../../src/protocol/udp-client.ts';
import { FAMILY_V4 } from '../../src/swarm/store.ts';
import { ConnectionIds } from '../../src/tracker/connection-id.ts';
import { applyEdits, bytes, edits, hostile } from './mutate.ts';
import { fuzzParameters } from './runs.ts';
import {
  CLIENTS,
  createFixture,
  createTracker,
  type Fixture,
  infoHash,
  onlyAnnouncedChanged,
  port,
  renewing,
  swarmFingerprint,
} from './tracker.ts';

const MAGIC = 0x41727101980n;
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

type Client = (typeof CLIENTS)[number];

/** Whose connection id a datagram carries. */
const ID_KINDS = ['issued', 'previous window', 'other address', 'next window', 'random'] as const;
type IdKind = (typeof ID_KINDS)[number];
const idKind = fc.constantFrom<IdKind>('issued', 'issued', 'issued', ...ID_KINDS);

/** BEP 41 options: URL data, NOPs, an end marker, unknown types, and a length running past the end. */
const options = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc
    .constantFrom('\x02\x0c/announce?pk', '\x01\x01\x00', '\x02\xff/x', '\x07\x02ab\x02\x03/ok')
    .map((s) => Buffer.from(s, 'latin1')),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
);

const announcePlan = fc.record({
  kind: fc.constant('announce' as const),
  id: idKind,
  transactionId: u32,
  hash: infoHash,
  peerId: bytes(20),
  downloaded: u64,
  left: fc.oneof(fc.constant(0n), u64),
  uploaded: u64,
  event: fc.integer({ min: 0, max: 5 }),
  ip: u32,
  key: u32,
  numWant: fc.oneof(fc.integer({ min: -2, max: 300 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
  port: fc.oneof(
    fc.integer({ min: 0, max: 3 }),
    port.map((p) => p & 0xffff),
  ),
  options,
});

const scrapePlan = fc.record({
  kind: fc.constant('scrape' as const),
  id: idKind,
  transactionId: u32,
  hashes: fc.array(infoHash, { maxLength: MAX_SCRAPE_HASHES + 6 }),
  tail: fc.uint8Array({ maxLength: 19 }),
});

const connectPlan = fc.record({
  kind: fc.constant('connect' as const),
  transactionId: u32,
  magic: fc.constantFrom(MAGIC, MAGIC, MAGIC, MAGIC ^ 1n, 0n),
  tail: fc.uint8Array({ maxLength: 8 }),
});

const plan = fc.oneof(connectPlan, announcePlan, scrapePlan);
type Plan = typeof plan extends fc.Arbitrary<infer P> ? P : never;

/** What issues connection ids: the tracker's ConnectionIds, at the tracker's clock. */
type Issuer = Pick<Fixture, 'ids' | 'tracker'>;

/** The connection id of `kind` for `client`, as the tracker's ConnectionIds would (or would not) have issued it. */
function connectionId(f: Issuer, client: Client, kind: IdKind, random: bigint): bigint {
  const other = client === CLIENTS[0] ? CLIENTS[1] : CLIENTS[0];
  const window = f.ids.window(f.tracker.clock.now) + (kind === 'previous window' ? -1 : kind === 'next window' ? 1 : 0);
  if (kind === 'random') return random;
  const who = kind === 'other address' ? other : client;
  const mac = f.ids.mac(window >>> 0, who.addr, who.family === FAMILY_V4 ? 4 : 16);
  return (BigInt(window >>> 0) << 32n) | BigInt(mac >>> 0);
}

function build(f: Issuer, client: Client, p: Plan, random: bigint): Buffer {
  if (p.kind === 'connect') {
    const b = Buffer.alloc(CONNECT_REQUEST_SIZE);
    b.writeBigUInt64BE(p.magic, 0);
    b.writeUInt32BE(0, 8);
    b.writeUInt32BE(p.transactionId, 12);
    return Buffer.concat([b, p.tail]);
  }
  const head = Buffer.alloc(CONNECT_REQUEST_SIZE);
  head.writeBigUInt64BE(connectionId(f, client, p.id, random), 0);
  head.writeUInt32BE(p.kind === 'announce' ? 1 : 2, 8);
  head.writeUInt32BE(p.transactionId, 12);
  if (p.kind === 'scrape') return Buffer.concat([head, ...p.hashes, p.tail]);
  const b = Buffer.alloc(ANNOUNCE_REQUEST_SIZE - CONNECT_REQUEST_SIZE);
  p.hash.copy(b, 0);
  p.peerId.copy(b, 20);
  b.writeBigUInt64BE(p.downloaded, 40);
  b.writeBigUInt64BE(p.left, 48);
  b.writeBigUInt64BE(p.uploaded, 56);
  b.writeUInt32BE(p.event, 64);
  b.writeUInt32BE(p.ip, 68);
  b.writeUInt32BE(p.key, 72);
  b.writeInt32BE(p.numWant, 76);
  b.writeUInt16BE(p.port, 80);
  return Buffer.concat([head, b, p.options]);
}

const UDP_TOKENS = [
  '\x00\x00\x04\x17\x27\x10\x19\x80',
  '\x00\x00\x00\x00',
  '\x00\x00\x00\x01',
  '\x00\x00\x00\x02',
  '\x00\x00\x00\x03',
  '\xff\xff\xff\xff',
  '\x02\x0c/announce?pk',
  '\x01',
];

const datagram = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(plan, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), edits(UDP_TOKENS)) },
  { weight: 1, arbitrary: hostile(UDP_TOKENS, 400) },
);

/** What the tracker tells `client` about the datagram `msg`, checked; the swarm's change is checked too. */
function checkDatagram(f: Fixture, client: Client, msg: Buffer): void {
  const out = new Uint8Array(f.udp.maxReplySize + 64).fill(0xa5);
  const view = new DataView(out.buffer);
  const before = swarmFingerprint(f.store);
  const peersBefore = f.store.peers;
  f.announced.length = 0;
  const n = f.udp.handle(msg, msg.length, client.family, client.addr, out, view);
  const after = swarmFingerprint(f.store);
  assert.ok(n >= 0 && n <= f.udp.maxReplySize, `reply of ${n} bytes`);
  assert.ok(
    out.subarray(n).every((b) => b === 0xa5),
    'bytes written past the reply',
  );
  if (n === 0) {
    assert.deepEqual(after, before, 'a dropped datagram changed the swarm');
    return;
  }
  assert.ok(msg.length >= CONNECT_REQUEST_SIZE, `a reply to a ${msg.length}-byte datagram`);
  const reply = decodeUdpReply(out.subarray(0, n), client.family === FAMILY_V4 ? 6 : 18);
  assert.notEqual(reply.action, 'malformed', `${JSON.stringify(reply)}`);
  assert.equal(reply.transactionId, msg.readUInt32BE(12));
  const action = msg.readUInt32BE(8);
  switch (reply.action) {
    case 'connect':
      assert.equal(action, 0);
      assert.equal(msg.readBigUInt64BE(0), MAGIC);
      assert.equal(n, CONNECT_REQUEST_SIZE);
      break;
    case 'error':
      assert.ok(n <= msg.length, `a ${n}-byte error to a ${msg.length}-byte request`);
      assert.match(reply.message, /^[\x20-\x7e]*$/);
      break;
    case 'scrape':
      assert.equal(action, 2);
      assert.equal(reply.entries.length, Math.min(Math.floor((msg.length - 16) / 20), MAX_SCRAPE_HASHES));
      assert.ok(n <= msg.length);
      break;
    case 'announce': {
      assert.equal(action, 1);
      assert.ok(msg.length >= ANNOUNCE_REQUEST_SIZE);
      const peerSize = client.family === FAMILY_V4 ? 6 : 18;
      const cap = client.family === FAMILY_V4 ? f.tracker.options.maxPeers : UDP_V6_MAX_PEERS;
      assert.ok(reply.peers.length / peerSize <= cap, `${reply.peers.length / peerSize} peers`);
      const { interval, minInterval } = f.tracker.options;
      assert.ok(reply.interval >= minInterval && reply.interval <= interval * 1.1, `interval ${reply.interval}`);
      // A reply from the repeat cache (Tracker.announce not asked) has the figures of when it was kept.
      if (f.announced.length > 0) {
        const tid = f.store.find(msg, 16);
        assert.equal(reply.seeders, tid < 0 ? 0 : f.store.complete(tid));
        assert.equal(reply.leechers, tid < 0 ? 0 : f.store.incomplete(tid));
      }
      assert.equal(onlyAnnouncedChanged(before, after, f.announced, f.store.peers - peersBefore), null);
      return;
    }
  }
  assert.deepEqual(after, before, `a ${reply.action} reply, yet the swarm changed`);
}

const fixture = renewing(() => createFixture());
const limited = renewing(() => createFixture({ rateLimited: true }));

test('UdpHandler: every reply is well-formed and no amplifier, and only accepted announces change the swarm', () => {
  let accepted = 0;
  fc.assert(
    fc.property(datagram, fc.constantFrom(...CLIENTS), fc.nat({ max: 3 }), (d, client, which) => {
      // One time in four, a tracker whose rate limits have run out.
      const f = which === 0 ? limited() : fixture();
      const msg = Buffer.isBuffer(d) ? d : applyEdits(build(f, client, d[0], d[1]), d[2]);
      const peers = f.store.peers;
      checkDatagram(f, client, msg);
      if (f.store.peers !== peers) accepted++;
    }),
    fuzzParameters(1500, 2),
  );
  assert.ok(accepted > 0, 'no datagram changed the swarm: the generators only make junk');
});

test('UdpHandler: an announce or scrape with a connection id not issued to the sender changes nothing', () => {
  const spoofed = fc.constantFrom<IdKind>('other address', 'next window', 'random');
  const request = fc.oneof(announcePlan, scrapePlan);
  fc.assert(
    fc.property(
      request,
      spoofed,
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.constantFrom(...CLIENTS),
      (p, id, random, client) => {
        const f = fixture();
        const msg = build(f, client, { ...p, id } as Plan, random);
        const addrLength = client.family === FAMILY_V4 ? 4 : 16;
        const now = f.tracker.clock.now;
        fc.pre(!f.ids.verify(msg.readUInt32BE(0), msg.readUInt32BE(4), client.addr, addrLength, now));
        const before = swarmFingerprint(f.store);
        const out = new Uint8Array(f.udp.maxReplySize);
        const n = f.udp.handle(msg, msg.length, client.family, client.addr, out, new DataView(out.buffer));
        const reply = decodeUdpReply(out.subarray(0, n), client.family === FAMILY_V4 ? 6 : 18);
        // Cut to the request's size: a 16-byte scrape gets 8 bytes of the message.
        const message = 'bad connection id'.slice(0, msg.length - 8);
        assert.deepEqual(reply, { action: 'error', transactionId: p.transactionId, message });
        assert.deepEqual(swarmFingerprint(f.store), before);
      },
    ),
    fuzzParameters(500, 2),
  );
});

function parsed(buf: Uint8Array, length: number): UdpRequest {
  const req = createUdpRequest(createAnnounceRequest());
  parseUdpRequest(buf, length, req);
  return req;
}

test('parseUdpRequest reads nothing past the datagram: bytes beyond its length change nothing', () => {
  fc.assert(
    fc.property(datagram, fc.uint8Array({ minLength: 1, maxLength: 200 }), (d, beyond) => {
      const msg = Buffer.isBuffer(d) ? d : applyEdits(build(fixture(), CLIENTS[0], d[0], d[1]), d[2]);
      // The batched path receives into one large reused buffer: the datagram, then whatever the last one left.
      const reused = Buffer.concat([msg, beyond]);
      assert.deepEqual(parsed(reused, msg.length), parsed(msg, msg.length));
    }),
    fuzzParameters(1000),
  );
});

// Found by this target (src/tracker/tracker.ts, cachedReply, with --repeat-cache, on by default): a peer that
// re-announced early had its reply kept; when it then stopped and started again within `min interval`, the start was
// answered from the kept reply and the peer stayed out of the swarm. Minimal: started, started, stopped, started.
// Fixed: a kept reply goes only to a peer still in the swarm.
test('after an announce the tracker accepted, its peer is in the swarm unless it stopped', () => {
  const step = fc.record({
    event: fc.constantFrom(EVENT_NONE, EVENT_COMPLETED, EVENT_STARTED, EVENT_STOPPED),
    left: fc.constantFrom(0n, 1000n),
    numWant: fc.constantFrom(-1, 10),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), fc.constantFrom(...CLIENTS), (steps, client) => {
      const tracker = createTracker();
      const issuer = { tracker, ids: new ConnectionIds() };
      const udp = new UdpHandler(tracker, issuer.ids);
      const out = new Uint8Array(udp.maxReplySize);
      const hash = Buffer.alloc(20, 0x5e);
      const endpoint = Buffer.concat([client.addr, Buffer.of(0x1a, 0xe1)]); // port 6881
      for (const [k, s] of steps.entries()) {
        const p: Plan = {
          kind: 'announce',
          id: 'issued',
          transactionId: k,
          hash,
          peerId: Buffer.alloc(20, 0x2d),
          downloaded: 0n,
          uploaded: 0n,
          ip: 0,
          key: 0,
          port: 6881,
          options: Buffer.alloc(0),
          ...s,
        };
        const msg = build(issuer, client, p, 0n);
        const n = udp.handle(msg, msg.length, client.family, client.addr, out, new DataView(out.buffer));
        if (decodeUdpReply(out.subarray(0, n), client.family === FAMILY_V4 ? 6 : 18).action !== 'announce') continue;
        const tid = tracker.store.find(hash, 0);
        const present = tid >= 0 && tracker.store.pools[client.family].find(tid, endpoint, 0) >= 0;
        assert.equal(present, s.event !== EVENT_STOPPED, `after step ${k + 1} of ${fc.stringify(steps)}`);
      }
    }),
    fuzzParameters(300),
  );
});
