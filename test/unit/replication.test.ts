// Replicated deltas: a store fed only by another's ring ends up with the same swarms; a reader that falls behind by
// more than the ring skips what was overwritten and counts it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { createRing, DeltaReader, DeltaWriter } from '../../src/tracker/replication.ts';

const hashOf = (t: number) => Buffer.alloc(20, t + 1);
const endpointOf = (family: number, p: number) => {
  const ep = Buffer.alloc(family === FAMILY_V4 ? 6 : 18, p + 1);
  ep.writeUInt16BE(1000 + p, ep.length - 2);
  return ep;
};

/** Every torrent's figures, as a comparable map. */
function snapshot(store: SwarmStore, torrents: number): string[] {
  const out: string[] = [];
  for (let t = 0; t < torrents; t++) {
    const tid = store.find(hashOf(t), 0);
    if (tid < 0) continue;
    out.push(
      `${t}: ${store.complete(tid)}/${store.incomplete(tid)}/${store.downloaders(tid)}/${store.downloaded(tid)}`,
    );
  }
  return out;
}

const op = fc.record({
  stop: fc.boolean().map((b) => b && Math.random() < 0.3),
  torrent: fc.integer({ min: 0, max: 5 }),
  peer: fc.integer({ min: 0, max: 30 }),
  family: fc.constantFrom(FAMILY_V4, FAMILY_V6),
  seeder: fc.boolean(),
  partial: fc.boolean(),
  completed: fc.boolean(),
  drain: fc.boolean(),
});

test('a replica fed by the ring agrees with the origin on every torrent', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const ring = createRing(64);
      const origin = new SwarmStore({ peerTtl: 3600 });
      const replica = new SwarmStore({ peerTtl: 3600 });
      const writer = new DeltaWriter(ring);
      const reader = new DeltaReader(ring);
      for (const o of ops) {
        const hash = hashOf(o.torrent);
        const ep = endpointOf(o.family, o.peer);
        if (o.stop) {
          origin.stop(hash, o.family, ep, 10);
          writer.stop(hash, o.family, ep);
        } else {
          const out = origin.announce(hash, o.family, ep, o.seeder, o.partial, o.completed, 10);
          if (out.publish) writer.announce(hash, o.family, ep, o.seeder, o.partial, o.completed);
        }
        if (o.drain) reader.drain(replica, 10);
      }
      reader.drain(replica, 10);
      assert.equal(reader.lost, 0);
      assert.deepEqual(snapshot(replica, 6), snapshot(origin, 6));
      assert.equal(replica.peers, origin.peers);
    }),
    { numRuns: 200 },
  );
});

test('re-announces inside an epoch are not published; the next epoch publishes once', () => {
  const store = new SwarmStore({ peerTtl: 800 }); // epochs of 100 s
  const ep = endpointOf(FAMILY_V4, 1);
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, false, false, false, 150).publish, true, 'new peer');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, false, false, false, 160).publish, false, 'nothing new');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, true, false, false, 170).publish, true, 'became a seeder');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, true, false, true, 171).publish, true, 'completed');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, true, false, true, 172).publish, false, 'counted already');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, true, false, false, 205).publish, true, 'next epoch');
  assert.equal(store.announce(hashOf(0), FAMILY_V4, ep, true, false, false, 206).publish, false);
});

test('a reader lapped by the writer skips the overwritten records and counts them', () => {
  const ring = createRing(16);
  const writer = new DeltaWriter(ring);
  const reader = new DeltaReader(ring);
  const replica = new SwarmStore({ peerTtl: 3600 });
  for (let p = 0; p < 40; p++) writer.announce(hashOf(0), FAMILY_V4, endpointOf(FAMILY_V4, p), false, false, false);
  const applied = reader.drain(replica, 1);
  // Only the newest 15 records are safe (the writer may be rewriting the 16th oldest slot).
  assert.equal(applied, 15);
  assert.equal(reader.lost, 25);
  assert.equal(replica.peers, 15);
  // Caught up: later records arrive normally.
  writer.announce(hashOf(1), FAMILY_V4, endpointOf(FAMILY_V4, 0), true, false, false);
  assert.equal(reader.drain(replica, 1), 1);
  assert.equal(reader.lost, 25);
});

test('the record count wraps at 2^32 without losing records', () => {
  const ring = createRing(16);
  new Int32Array(ring, 0, 1)[0] = -3; // 2^32 - 3 records published so far
  const writer = new DeltaWriter(ring);
  const reader = new DeltaReader(ring, -3);
  const replica = new SwarmStore({ peerTtl: 3600 });
  for (let p = 0; p < 10; p++) writer.announce(hashOf(0), FAMILY_V4, endpointOf(FAMILY_V4, p), false, false, false);
  assert.equal(reader.drain(replica, 1), 10);
  assert.equal(reader.lost, 0);
  assert.equal(replica.peers, 10);
});

test('a reader made after the writer published applies what came before it', () => {
  const ring = createRing(64);
  const origin = new SwarmStore({ peerTtl: 3600 });
  const replica = new SwarmStore({ peerTtl: 3600 });
  const writer = new DeltaWriter(ring);
  const ep = endpointOf(FAMILY_V6, 1);
  const out = origin.announce(hashOf(0), FAMILY_V6, ep, true, false, false, 10);
  assert.ok(out.publish);
  writer.announce(hashOf(0), FAMILY_V6, ep, true, false, false);
  // The other worker starts only now.
  const reader = new DeltaReader(ring);
  assert.equal(reader.drain(replica, 10), 1);
  assert.deepEqual(snapshot(replica, 1), snapshot(origin, 1));
});
