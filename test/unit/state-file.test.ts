import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import {
  type DecodedState,
  decodeState,
  encodeState,
  restoreState,
  StateFileError,
} from '../../src/persist/state-file.ts';
import { FLAG_COMPLETED, FLAG_PARTIAL } from '../../src/swarm/peer-pool.ts';
import { ENDPOINT_SIZE, FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';

const FILE = '/var/lib/swarmd/state';
const TTL = 43200;
const all = () => true;

interface PeerView {
  seeder: boolean;
  partial: boolean;
  completed: boolean;
  age: number;
}
interface TorrentView {
  downloaded: number;
  age: number;
  peers: Map<string, PeerView>;
}

/** Everything the state file keeps, read out of a store: hash → torrent, `family/endpoint hex` → peer. */
function view(store: SwarmStore, now: number): Map<string, TorrentView> {
  const torrents = new Map<string, TorrentView>();
  const hash = Buffer.alloc(20);
  for (let tid = 0; tid < store.idLimit; tid++) {
    if (!store.isAlive(tid)) continue;
    store.copyHash(tid, hash, 0);
    const peers = new Map<string, PeerView>();
    store.pools.forEach((pool, family) => {
      const start = pool.blockStartOf(tid);
      for (let i = 0; i < pool.countOf(tid); i++) {
        const slot = start + i;
        const ep = Buffer.from(pool.endpoints.subarray(slot * pool.stride, (slot + 1) * pool.stride));
        const partial = (pool.flags[slot] & FLAG_PARTIAL) !== 0;
        peers.set(`${family}/${ep.toString('hex')}`, {
          seeder: i >= pool.downloadersOf(tid) && !partial,
          partial,
          completed: (pool.flags[slot] & FLAG_COMPLETED) !== 0,
          age: pool.age(slot, now),
        });
      }
    });
    torrents.set(hash.toString('hex'), { downloaded: store.downloaded(tid), age: now - store.lastActive(tid), peers });
  }
  return torrents;
}

/** Equal, except that ages may differ by a second (the wall clock may tick between save and restore). */
function assertSameState(actual: Map<string, TorrentView>, expected: Map<string, TorrentView>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [hash, want] of expected) {
    const got = actual.get(hash)!;
    assert.equal(got.downloaded, want.downloaded, hash);
    assert.ok(Math.abs(got.age - want.age) <= 1, `${hash}: torrent age ${got.age}, expected ${want.age}`);
    assert.deepEqual([...got.peers.keys()].sort(), [...want.peers.keys()].sort());
    for (const [key, p] of want.peers) {
      const q = got.peers.get(key)!;
      assert.deepEqual([q.seeder, q.partial, q.completed], [p.seeder, p.partial, p.completed], key);
      assert.ok(Math.abs(q.age - p.age) <= 1, `${key}: age ${q.age}, expected ${p.age}`);
    }
  }
}

function decoded(bytes: Uint8Array): DecodedState {
  const d = decodeState(bytes, FILE);
  if (d instanceof StateFileError) assert.fail(d.message);
  return d;
}

/** Rewrites the CRC after a deliberate edit, so the structural checks behind it are reached. */
function reseal(bytes: Buffer): Buffer {
  bytes.writeUInt32BE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
  return bytes;
}

function hashOf(n: number): Buffer {
  const h = Buffer.alloc(20, 0x5a);
  h.writeUInt32BE(Math.imul(n + 1, 2654435761) >>> 0, 0);
  return h;
}

const announceArb = fc.record({
  torrent: fc.nat(30),
  family: fc.constantFrom(FAMILY_V4, FAMILY_V6),
  endpoint: fc.uint8Array({ minLength: 18, maxLength: 18 }),
  seeder: fc.boolean(),
  partial: fc.boolean(),
  completed: fc.boolean(),
  /** Seconds before the save. */
  ago: fc.nat(40000),
});
type Announce = typeof announceArb extends fc.Arbitrary<infer T> ? T : never;

/** A torrent without peers, as a statedump leaves it: a count and a last activity, maybe long ago. */
const quietArb = fc.record({ torrent: fc.integer({ min: 100, max: 120 }), downloaded: fc.nat(), ago: fc.nat(10 ** 8) });
type Quiet = typeof quietArb extends fc.Arbitrary<infer T> ? T : never;

/** A store made of announces at various times before `now`, oldest first, and a few quiet torrents. */
function build(announces: Announce[], quiet: Quiet[], now: number): SwarmStore {
  const store = new SwarmStore({ peerTtl: TTL }, 4);
  for (const a of [...announces].sort((x, y) => y.ago - x.ago)) {
    const ep = a.endpoint.subarray(0, ENDPOINT_SIZE[a.family]);
    store.announce(hashOf(a.torrent), a.family, ep, a.seeder, a.partial, a.completed, now - a.ago);
  }
  for (const q of quiet) store.restoreTorrent(hashOf(q.torrent), 0, q.downloaded, now - q.ago, now);
  return store;
}

/** One IPv4 downloader of torrent 1, announced 3 s ago. */
function sampleAnnounce(): Announce {
  return {
    torrent: 1,
    family: FAMILY_V4,
    endpoint: new Uint8Array(18).fill(7),
    seeder: false,
    partial: false,
    completed: false,
    ago: 3,
  };
}

test('the file holds the documented bytes', async (t) => {
  t.mock.method(Date, 'now', () => 1_700_000_000_000);
  const store = new SwarmStore({ peerTtl: TTL });
  const hash = Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex');
  const v6 = Buffer.from(`${'00'.repeat(15)}01c8d5`, 'hex'); // [::1]:51413
  const v4 = Buffer.from('010203041ae1', 'hex'); // 1.2.3.4:6881
  store.announce(hash, FAMILY_V6, v6, false, true, false, 90);
  store.announce(hash, FAMILY_V4, v4, true, false, true, 100);
  const bytes = await encodeState(store, { now: 110 });
  const expected = Buffer.from(
    [
      '89535744 0d0a1a0a 0001 0000 6553f100', // magic, version 1, zero, saved at 1700000000
      '00112233445566778899aabbccddeeff00112233', // info hash
      '00000001 6553f0f6 00000001 00000001', // 1 download, last active 10 s before the save, 1 IPv4 and 1 IPv6 peer
      '010203041ae1 000a 05', // 1.2.3.4:6881, 10 s old, seeder and completed
      `${'00'.repeat(15)}01c8d5 0014 02`, // [::1]:51413, 20 s old, partial seed
      '00000001 00000002', // trailer: 1 torrent, 2 peers
    ]
      .join('')
      .replaceAll(' ', ''),
    'hex',
  );
  assert.equal(bytes.subarray(0, -4).toString('hex'), expected.toString('hex'));
  assert.equal(bytes.readUInt32BE(bytes.length - 4), crc32(expected));
});

test('encode, decode and restore into a fresh store (a new process, a new clock) gives the same swarm', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(announceArb, { maxLength: 120 }),
      fc.array(quietArb, { maxLength: 5 }),
      fc.integer({ min: 1, max: 10 ** 6 }),
      async (announces, quiet, restartedAt) => {
        const now = 50_000;
        const store = build(announces, quiet, now);
        const d = decoded(await encodeState(store, { now }));
        assert.equal(d.torrents, store.torrents);
        assert.equal(d.peers, store.peers);
        const fresh = new SwarmStore({ peerTtl: TTL }, 2);
        const result = restoreState(d, fresh, { now: restartedAt }, all, TTL);
        assert.deepEqual(result, { torrents: store.torrents, peers: store.peers, refused: 0, expired: 0 });
        assertSameState(view(fresh, restartedAt), view(store, now));
      },
    ),
    { numRuns: 150 },
  );
});

test('any single changed byte and any truncation is detected', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(announceArb, { minLength: 1, maxLength: 40 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      async (announces, where, xor) => {
        const bytes = await encodeState(build(announces, [], 50_000), { now: 50_000 });
        const damaged = Buffer.from(bytes);
        damaged[where % bytes.length] ^= xor;
        assert.ok(decodeState(damaged, FILE) instanceof StateFileError);
        assert.ok(decodeState(bytes.subarray(0, where % bytes.length), FILE) instanceof StateFileError);
      },
    ),
    { numRuns: 300 },
  );
  // Every length of one small file.
  const bytes = await encodeState(build([{ ...sampleAnnounce(), family: FAMILY_V6 }], [], 100), { now: 100 });
  for (let n = 0; n < bytes.length; n++) assert.ok(decodeState(bytes.subarray(0, n), FILE) instanceof StateFileError);
});

test('arbitrary bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const d = decodeState(bytes, FILE);
      assert.ok(d instanceof StateFileError && d.message.startsWith(`${FILE}: `));
    }),
    { numRuns: 2000 },
  );
});

test('arbitrary records behind a good header and CRC never throw, and what decodes restores', () => {
  const record = fc.record({
    head: fc.uint8Array({ minLength: 28, maxLength: 28 }), // hash, downloaded, last activity
    v4: fc.array(fc.uint8Array({ minLength: 9, maxLength: 9 }), { maxLength: 3 }),
    v6: fc.array(fc.uint8Array({ minLength: 21, maxLength: 21 }), { maxLength: 3 }),
  });
  let restored = 0;
  fc.assert(
    fc.property(
      fc.array(record, { maxLength: 5 }),
      fc.nat({ max: 0xffffffff }),
      fc.boolean(),
      (records, savedAt, lie) => {
        const parts = [Buffer.from('895357440d0a1a0a00010000', 'hex'), Buffer.alloc(4)];
        parts[1].writeUInt32BE(savedAt);
        let peers = 0;
        for (const r of records) {
          const counts = Buffer.alloc(8);
          counts.writeUInt32BE(r.v4.length, 0);
          counts.writeUInt32BE(r.v6.length, 4);
          parts.push(
            Buffer.from(r.head),
            counts,
            ...r.v4.map((p) => Buffer.from(p)),
            ...r.v6.map((p) => Buffer.from(p)),
          );
          peers += r.v4.length + r.v6.length;
        }
        const trailer = Buffer.alloc(12);
        trailer.writeUInt32BE(records.length + (lie ? 1 : 0), 0);
        trailer.writeUInt32BE(peers, 4);
        const d = decodeState(reseal(Buffer.concat([...parts, trailer])), FILE);
        if (d instanceof StateFileError) return;
        assert.equal(lie, false);
        const store = new SwarmStore({ peerTtl: 1 << 16 });
        const result = restoreState(d, store, { now: 1 }, all, 1 << 16);
        assert.equal(result.torrents, records.length);
        restored++;
      },
    ),
    { numRuns: 2000 },
  );
  assert.ok(restored > 100, `only ${restored} random files decoded`);
});

test('each way a file can be wrong has its own reason', async (t) => {
  t.mock.method(Date, 'now', () => 1_700_000_000_000);
  const store = build([sampleAnnounce(), { ...sampleAnnounce(), family: FAMILY_V6, partial: true }], [], 100);
  const good = await encodeState(store, { now: 100 });
  const edited = (edit: (b: Buffer) => void, seal = true) => {
    const b = Buffer.from(good);
    edit(b);
    return seal ? reseal(b) : b;
  };
  const reason = (bytes: Uint8Array) => {
    const d = decodeState(bytes, FILE);
    assert.ok(d instanceof StateFileError);
    assert.equal(d.message, `${FILE}: ${d.reason}`);
    assert.equal(d.file, FILE);
    return d.reason;
  };
  const peer6 = 16 + 36 + 9; // the IPv6 peer's first byte
  assert.equal(reason(new Uint8Array(0)), 'empty file');
  assert.equal(reason(Buffer.from('d8:completei1ee')), 'not a swarmd state file (bad magic)');
  assert.equal(reason(edited((b) => b.writeUInt16BE(2, 8), false)), 'unknown version 2 (this swarmd reads version 1)');
  assert.equal(reason(good.subarray(0, 20)), 'truncated: 20 bytes, and a state file has at least 28');
  assert.match(
    reason(good.subarray(0, good.length - 1)),
    /^CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\): the file is truncated or damaged$/,
  );
  assert.match(reason(edited((b) => b[30]++, false)), /^CRC mismatch/);
  assert.equal(reason(edited((b) => b.writeUInt16BE(9, 10))), "impossible value 9 in the header's zero field");
  assert.equal(
    reason(edited((b) => b.writeUInt32BE(1_700_000_001, 16 + 24))),
    'torrent 1 at byte 16: last activity 1700000001 is after the save (1700000000)',
  );
  assert.equal(
    reason(edited((b) => b.writeUInt32BE(3, 16 + 28))),
    'torrent 1 at byte 16 claims 3 IPv4 and 1 IPv6 peers, more than the file holds',
  );
  assert.equal(reason(edited((b) => b.writeUInt32BE(0, 16 + 32))), 'torrent 2 at byte 61 is cut short by the trailer');
  assert.equal(
    reason(edited((b) => (b[peer6 + 20] = 3))),
    `torrent 1 at byte 16: impossible peer flags 0x03 at byte ${peer6 + 20}`,
  );
  assert.equal(
    reason(edited((b) => (b[peer6 + 20] = 0x0a))),
    `torrent 1 at byte 16: impossible peer flags 0x0a at byte ${peer6 + 20}`,
  );
  assert.equal(
    reason(edited((b) => b.writeUInt32BE(2, b.length - 12))),
    'the trailer counts 2 torrents and 2 peers, the file holds 1 and 2',
  );
});

test('allows() filters torrents, and their peers go with them', async () => {
  const announces = [1, 2, 3].map((torrent) => ({ ...sampleAnnounce(), torrent }));
  const d = decoded(await encodeState(build(announces, [], 100), { now: 100 }));
  const refusedHash = hashOf(2);
  const seen: string[] = [];
  const fresh = new SwarmStore({ peerTtl: TTL });
  const result = restoreState(
    d,
    fresh,
    { now: 1 },
    (hash, off) => {
      const h = Buffer.from(hash.subarray(off, off + 20));
      seen.push(h.toString('hex'));
      return !h.equals(refusedHash);
    },
    TTL,
  );
  assert.deepEqual(result, { torrents: 2, peers: 2, refused: 1, expired: 0 });
  assert.equal(seen.length, 3);
  assert.equal(fresh.find(refusedHash, 0), -1);
  assert.ok(fresh.find(hashOf(1), 0) >= 0 && fresh.find(hashOf(3), 0) >= 0);
});

test('peers older than the TTL by restore time are dropped, and the time the tracker was down counts', async (t) => {
  let wall = 1_700_000_000_000;
  t.mock.method(Date, 'now', () => wall);
  const announces = [10, 100, 200].map((ago, i) => ({
    ...sampleAnnounce(),
    endpoint: new Uint8Array(18).fill(i),
    ago,
  }));
  const d = decoded(await encodeState(build(announces, [], 1000), { now: 1000 }));

  const soon = new SwarmStore({ peerTtl: 150 });
  assert.deepEqual(restoreState(d, soon, { now: 1 }, all, 150), { torrents: 1, peers: 2, refused: 0, expired: 1 });

  wall += 60_000; // a minute later
  const later = new SwarmStore({ peerTtl: 150 });
  assert.deepEqual(restoreState(d, later, { now: 1 }, all, 150), { torrents: 1, peers: 1, refused: 0, expired: 2 });
  const tid = later.find(hashOf(1), 0);
  assert.equal(later.pools[FAMILY_V4].age(later.pools[FAMILY_V4].blockStartOf(tid), 1), 70);
  assert.equal(1 - later.lastActive(tid), 70, 'the torrent was last active 10 s before the save');

  wall -= 3_600_000; // the wall clock went back: no time passed
  const back = new SwarmStore({ peerTtl: 150 });
  assert.deepEqual(restoreState(d, back, { now: 1 }, all, 150), { torrents: 1, peers: 2, refused: 0, expired: 1 });
});

test('a store that changes while it is saved still makes a valid file', async () => {
  const store = new SwarmStore({ peerTtl: TTL });
  const ep = Buffer.alloc(6);
  for (let i = 0; i < 60_000; i++) {
    ep.writeUInt32BE(i, 0);
    store.announce(hashOf(i % 20_000), FAMILY_V4, ep, i % 3 === 0, false, false, 10);
  }
  const clock = { now: 10 };
  let changing = true;
  let changes = 0;
  const churn = () => {
    for (let k = 0; k < 500; k++, changes++) {
      ep.writeUInt32BE(changes * 7919, 0);
      const hash = hashOf((changes * 31) % 25_000);
      if (changes % 2 === 0) store.announce(hash, FAMILY_V4, ep, false, false, false, clock.now);
      else
        store.stop(
          hashOf(changes % 20_000),
          FAMILY_V4,
          Buffer.from([0, 0, (changes >> 8) & 0xff, changes & 0xff, 0, 0]),
          clock.now,
        );
    }
    clock.now++;
    if (changing) setImmediate(churn);
  };
  setImmediate(churn);
  const bytes = await encodeState(store, clock);
  changing = false;
  assert.ok(changes > 0, 'the store changed during the save');
  const d = decoded(bytes);
  const fresh = new SwarmStore({ peerTtl: TTL });
  const result = restoreState(d, fresh, { now: 1 }, all, TTL);
  assert.equal(result.expired, 0);
  assert.ok(fresh.peers > 0 && fresh.torrents > 0);
});

test('a large store (100k torrents, 500k peers) is saved without blocking the event loop', async () => {
  const store = new SwarmStore({ peerTtl: TTL });
  const v4 = Buffer.alloc(6);
  const v6 = Buffer.alloc(18, 0x20);
  for (let i = 0; i < 500_000; i++) {
    const hash = hashOf(i % 100_000);
    if (i % 5 === 4) {
      v6.writeUInt32BE(i, 12);
      store.announce(hash, FAMILY_V6, v6, i % 2 === 0, false, false, 100);
    } else {
      v4.writeUInt32BE(i, 0);
      store.announce(hash, FAMILY_V4, v4, i % 2 === 0, false, false, 100);
    }
  }
  assert.equal(store.torrents, 100_000);
  assert.equal(store.peers, 500_000);

  let last = performance.now();
  let longest = 0;
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const bytes = await encodeState(store, { now: 100 });
  ticking = false;
  assert.ok(longest < 200, `the event loop waited ${longest.toFixed(0)} ms`);
  assert.equal(bytes.length, 16 + 100_000 * 36 + 400_000 * 9 + 100_000 * 21 + 12);

  const d = decoded(bytes);
  const fresh = new SwarmStore({ peerTtl: TTL });
  assert.deepEqual(restoreState(d, fresh, { now: 5 }, all, TTL), {
    torrents: 100_000,
    peers: 500_000,
    refused: 0,
    expired: 0,
  });
  assert.equal(fresh.complete(fresh.find(hashOf(0), 0)), store.complete(store.find(hashOf(0), 0)));
});
