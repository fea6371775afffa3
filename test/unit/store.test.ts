import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_RUNS, type PeerPool, type PeerRuns } from '../../src/swarm/peer-pool.ts';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';

// A plain model of the store: torrent → endpoint → peer state.
interface ModelPeer {
  seeder: boolean;
  partial: boolean;
  completedCounted: boolean;
}
interface ModelTorrent {
  peers: Map<string, ModelPeer>;
  downloaded: number;
}

function hashOf(n: number): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32BE(Math.imul(n, 2654435761) >>> 0, 0);
  h[19] = n;
  return h;
}

/** A selection to fill, and the slots it picked, in order. */
function runsOf(): PeerRuns {
  return { runs: new Int32Array(2 * MAX_RUNS), runCount: 0, count: 0 };
}
function slotsOf(picked: PeerRuns): number[] {
  const slots: number[] = [];
  assert.ok(picked.runCount <= MAX_RUNS, `${picked.runCount} runs`);
  for (let r = 0; r < picked.runCount; r++) {
    assert.ok(picked.runs[2 * r + 1] > 0, 'an empty run');
    for (let k = 0; k < picked.runs[2 * r + 1]; k++) slots.push(picked.runs[2 * r] + k);
  }
  assert.equal(slots.length, picked.count);
  return slots;
}

function endpointOf(family: number, n: number): Buffer {
  const ep = Buffer.alloc(family === FAMILY_V4 ? 6 : 18);
  ep[0] = 10;
  ep[ep.length - 3] = n >> 8;
  ep[ep.length - 2] = 0x1a;
  ep[ep.length - 1] = n & 0xff;
  return ep;
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('announce' as const),
    torrent: fc.nat(5),
    family: fc.constantFrom(FAMILY_V4, FAMILY_V6),
    peer: fc.nat(40),
    seeder: fc.boolean(),
    partial: fc.boolean(),
    completed: fc.boolean(),
    want: fc.nat(60),
  }),
  fc.record({
    kind: fc.constant('stop' as const),
    torrent: fc.nat(5),
    family: fc.constantFrom(FAMILY_V4, FAMILY_V6),
    peer: fc.nat(40),
  }),
);

test('the store agrees with a plain model over random announce/stop sequences', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const store = new SwarmStore({ peerTtl: 1_000_000 }, 2);
      const model = new Map<number, ModelTorrent>();
      const picked = runsOf();
      for (const o of ops) {
        const key = `${o.family}/${o.peer}`;
        const ep = endpointOf(o.family, o.peer);
        if (o.kind === 'stop') {
          store.stop(hashOf(o.torrent), o.family, ep, 1);
          const t = model.get(o.torrent);
          t?.peers.delete(key);
          // A torrent that counted a download outlives its peers (torrentTtl); one that never did goes with them.
          if (t && t.peers.size === 0 && t.downloaded === 0) model.delete(o.torrent);
        } else {
          const out = store.announce(hashOf(o.torrent), o.family, ep, o.seeder, o.partial, o.completed, 1);
          let t = model.get(o.torrent);
          if (!t) {
            t = { peers: new Map(), downloaded: 0 };
            model.set(o.torrent, t);
          }
          const prev = t.peers.get(key);
          const p: ModelPeer = {
            seeder: o.seeder,
            partial: o.partial && !o.seeder,
            completedCounted: prev?.completedCounted ?? false,
          };
          if (o.completed && o.seeder && !p.completedCounted) {
            p.completedCounted = true;
            t.downloaded++;
          }
          t.peers.set(key, p);

          // Selection: distinct, never the requester, only downloaders for an upload-only requester.
          const pool = store.pools[o.family];
          const uploadOnly = o.seeder || o.partial;
          pool.select(out.torrent, uploadOnly, out.slot, o.want, picked);
          const slots = slotsOf(picked);
          const n = slots.length;
          const candidates = [...t.peers.entries()].filter(
            ([k, q]) => k !== key && k.startsWith(`${o.family}/`) && (!uploadOnly || !(q.seeder || q.partial)),
          );
          assert.equal(n, Math.min(o.want, candidates.length));
          const seen = new Set<string>();
          for (let i = 0; i < n; i++) {
            const at = slots[i] * pool.stride;
            const id = pool.endpoints[at + pool.stride - 3] * 256 + pool.endpoints[at + pool.stride - 1];
            const k = `${o.family}/${id}`;
            assert.ok(!seen.has(k), 'a peer picked twice');
            seen.add(k);
            assert.ok(
              candidates.some(([c]) => c === k),
              `picked ${k}, not a candidate`,
            );
          }
        }
        // Counters agree for every torrent.
        assert.equal(store.torrents, model.size);
        for (const [n, t] of model) {
          const tid = store.find(hashOf(n), 0);
          assert.ok(tid >= 0);
          const peers = [...t.peers.values()];
          assert.equal(store.complete(tid), peers.filter((p) => p.seeder).length);
          assert.equal(store.incomplete(tid), peers.filter((p) => !p.seeder).length);
          assert.equal(store.downloaders(tid), peers.filter((p) => !p.seeder && !p.partial).length);
          assert.equal(store.downloaded(tid), t.downloaded);
        }
      }
      assert.equal(
        store.peers,
        [...model.values()].reduce((s, t) => s + t.peers.size, 0),
      );
    }),
    { numRuns: 300 },
  );
});

test('peers expire after the TTL and empty torrents are dropped', () => {
  const store = new SwarmStore({ peerTtl: 4 });
  const hash = hashOf(1);
  store.announce(hash, FAMILY_V4, endpointOf(FAMILY_V4, 1), false, false, false, 10);
  store.announce(hash, FAMILY_V6, endpointOf(FAMILY_V6, 2), true, false, false, 12);
  store.sweepSome(13, 10);
  assert.equal(store.peers, 2);
  store.sweepSome(15, 10); // the first peer is 5 s old
  assert.equal(store.peers, 1);
  assert.equal(store.complete(store.find(hash, 0)), 1);
  store.sweepSome(17, 10);
  assert.equal(store.peers, 0);
  assert.equal(store.torrents, 0);
  assert.equal(store.find(hash, 0), -1);
});

test('a torrent that counted a download outlives its peers until torrentTtl, then goes', () => {
  const store = new SwarmStore({ peerTtl: 4, torrentTtl: 100 });
  const hash = hashOf(3);
  const ep = endpointOf(FAMILY_V4, 1);
  const first = store.announce(hash, FAMILY_V4, ep, true, false, true, 10);
  assert.equal(first.completed, true);
  assert.equal(first.renewAge, -1);
  const again = store.announce(hash, FAMILY_V4, ep, true, false, true, 13);
  assert.equal(again.completed, false, 'a peer completes once');
  assert.equal(again.renewAge, 3);
  store.stop(hash, FAMILY_V4, ep, 14);
  const tid = store.lookup(hash, 0, 20);
  assert.ok(tid >= 0, 'kept without peers');
  assert.equal(store.downloaded(tid), 1);
  assert.equal(store.lastActive(tid), 13);
  store.sweepSome(113, 10);
  assert.equal(store.lookup(hash, 0, 113), -1, 'dropped torrentTtl after its last announce');
  assert.equal(store.torrents, 0);
});

test('restored torrents and peers read back as saved, and restored peers expire on their saved age', () => {
  const store = new SwarmStore({ peerTtl: 50 });
  const hash = hashOf(4);
  const tid = store.restoreTorrent(hash, 0, 7, -500, 1);
  assert.equal(store.restoreTorrent(hash, 0, 7, -500, 1), tid, 'restoring twice keeps one torrent');
  store.restorePeer(tid, FAMILY_V4, endpointOf(FAMILY_V4, 1), 0, true, false, true, -30);
  store.restorePeer(tid, FAMILY_V6, endpointOf(FAMILY_V6, 2), 0, false, true, false, -45);
  store.restorePeer(tid, FAMILY_V6, endpointOf(FAMILY_V6, 2), 0, false, true, false, -45);
  assert.equal(store.peers, 2);
  assert.equal(store.complete(tid), 1);
  assert.equal(store.incomplete(tid), 1);
  assert.equal(store.downloaders(tid), 0, 'a partial seed is not a downloader');
  assert.equal(store.downloaded(tid), 7);
  assert.equal(store.lastActive(tid), -500);
  // The restored seeder's completed event was counted already: completing again adds nothing.
  assert.equal(store.announce(hash, FAMILY_V4, endpointOf(FAMILY_V4, 1), true, false, true, 2).completed, false);
  store.sweepSome(20, 10); // the v6 peer is 65 s old
  assert.equal(store.peers, 1);
});

test('peer ages are right across the 16-bit wrap of stored times', () => {
  const store = new SwarmStore({ peerTtl: 20 });
  const hash = hashOf(2);
  store.announce(hash, FAMILY_V4, endpointOf(FAMILY_V4, 1), false, false, false, 65_530);
  store.announce(hash, FAMILY_V4, endpointOf(FAMILY_V4, 2), false, false, false, 65_545);
  store.sweepSome(65_549, 10); // 19 s and 4 s old: both stay
  assert.equal(store.peers, 2);
  store.sweepSome(65_560, 10); // 30 s and 15 s old, the clock past 2^16
  assert.equal(store.peers, 1);
  store.sweepSome(65_600, 10);
  assert.equal(store.peers, 0);
});

test('a large swarm grows and shrinks its block and keeps every peer findable', () => {
  const store = new SwarmStore({ peerTtl: 1000 });
  const hash = hashOf(7);
  for (let i = 0; i < 5000; i++) {
    store.announce(hash, FAMILY_V4, endpointOf(FAMILY_V4, i), i % 3 === 0, false, false, 1);
  }
  const tid = store.find(hash, 0);
  assert.equal(store.complete(tid) + store.incomplete(tid), 5000);
  for (let i = 0; i < 4990; i++) store.stop(hash, FAMILY_V4, endpointOf(FAMILY_V4, i), 1);
  assert.equal(store.peers, 10);
  for (let i = 4990; i < 5000; i++) assert.ok(store.pools[0].find(tid, endpointOf(FAMILY_V4, i), 0) >= 0);
});

/** A store whose one torrent holds `peers` IPv4 leechers (10.x.y.z:6881), and that torrent. */
function swarmOf(peers: number): { store: SwarmStore; tid: number } {
  const store = new SwarmStore({ peerTtl: 3600 });
  const hash = hashOf(7);
  const ep = Buffer.alloc(6);
  ep.writeUInt16BE(6881, 4);
  for (let i = 0; i < peers; i++) {
    ep.writeUInt32BE(0x0a000000 + i, 0);
    store.announce(hash, FAMILY_V4, ep, false, false, false, 1);
  }
  return { store, tid: store.find(hash, 0) };
}

test('selection: every candidate as likely as any other, never the requester, and the sets vary', () => {
  const { store, tid } = swarmOf(101);
  const pool = store.pools[FAMILY_V4];
  const start = pool.blockStartOf(tid);
  const requester = start + 40;
  const out = runsOf();
  const picked = new Map<number, number>();
  const sets = new Set<string>();
  const draws = 20_000;
  for (let d = 0; d < draws; d++) {
    pool.select(tid, false, requester, 10, out);
    const chosen = slotsOf(out);
    assert.equal(chosen.length, 10);
    assert.equal(new Set(chosen).size, 10, 'distinct');
    for (const slot of chosen) picked.set(slot, (picked.get(slot) ?? 0) + 1);
    if (d < 500) sets.add(chosen.sort((a, b) => a - b).join());
  }
  assert.equal(picked.get(requester), undefined, 'never the requester');
  assert.equal(picked.size, 100, 'every other peer');
  // Each of the 100 candidates is expected 2,000 times (σ ≈ 42); a quarter off would be a bias, not chance.
  for (const [slot, times] of picked) assert.ok(times > 1500 && times < 2500, `slot ${slot}: ${times} times`);
  // A window from each of the 100 candidates: 500 draws miss about 0.7 of them.
  assert.ok(sets.size >= 95, `${sets.size} different sets in 500`);
});

/** The join index of the peer in `slot` of a swarmOf() swarm: its address less 10.0.0.0. */
function joinOf(pool: PeerPool, slot: number): number {
  const e = pool.endpoints;
  const at = slot * pool.stride;
  return ((e[at + 1] << 16) | (e[at + 2] << 8) | e[at + 3]) >>> 0;
}

/**
 * The median, over `draws` selections by `select`, of the widest gap between the peers picked, counted in join order
 * among `candidates` (the join indexes a selection may pick from), as a share of the candidates.
 */
function widestJoinGap(pool: PeerPool, select: (out: PeerRuns) => void, candidates: number[], draws: number): number {
  const rank = new Map(candidates.map((join, r) => [join, r]));
  const out = runsOf();
  const gaps: number[] = [];
  for (let d = 0; d < draws; d++) {
    select(out);
    const at = slotsOf(out)
      .map((slot) => rank.get(joinOf(pool, slot)) as number)
      .sort((a, b) => a - b);
    let widest = at[0] + candidates.length - at[at.length - 1];
    for (let i = 1; i < at.length; i++) widest = Math.max(widest, at[i] - at[i - 1]);
    gaps.push(widest);
  }
  return gaps.sort((a, b) => a - b)[draws >> 1] / candidates.length;
}

test('selection: a random sample of the swarm, not of the peers who joined together', () => {
  // 50 peers picked at random leave a widest gap of about a tenth of the swarm; 50 who joined one after another
  // leave nearly all of it.
  for (const count of [1024, 65_536]) {
    const { store, tid } = swarmOf(count);
    const pool = store.pools[FAMILY_V4];
    const all = Array.from({ length: count }, (_, i) => i);
    const gap = widestJoinGap(pool, (out) => pool.select(tid, false, -1, 50, out), all, 200);
    assert.ok(gap < 0.2, `${count} peers: the widest gap between picks is ${gap} of the swarm in the median draw`);
  }
});

test('selection: still a random sample after peers complete and leave in join order', () => {
  const count = 4096;
  const { store, tid } = swarmOf(count);
  const pool = store.pools[FAMILY_V4];
  const hash = hashOf(7);
  const ep = Buffer.alloc(6);
  ep.writeUInt16BE(6881, 4);
  const downloaders: number[] = [];
  for (let i = 0; i < count; i++) {
    ep.writeUInt32BE(0x0a000000 + i, 0);
    // Every other peer completes, every third of the rest leaves: each moves inside the block, in join order.
    if (i % 2 === 0) store.announce(hash, FAMILY_V4, ep, true, false, true, 1);
    else if (i % 3 === 0) store.stop(hash, FAMILY_V4, ep, 1);
    else downloaders.push(i);
  }
  const seeders = Array.from({ length: count / 2 }, (_, k) => 2 * k);
  const everyone = [...downloaders, ...seeders].sort((a, b) => a - b);
  const fromAll = widestJoinGap(pool, (out) => pool.select(tid, false, -1, 50, out), everyone, 200);
  const fromDownloaders = widestJoinGap(pool, (out) => pool.select(tid, true, -1, 50, out), downloaders, 200);
  assert.ok(fromAll < 0.2, `from everyone: the widest gap is ${fromAll} of the candidates in the median draw`);
  assert.ok(fromDownloaders < 0.2, `from downloaders: the widest gap is ${fromDownloaders} in the median draw`);
});
