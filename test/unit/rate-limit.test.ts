// The per-address token buckets: burst then rate, by whole seconds; IPv6 by /64; announces and scrapes apart; a
// bounded table that forgets quiet addresses before busy ones; one table shared by workers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FAMILY_V4, FAMILY_V6 } from '../../src/swarm/store.ts';
import {
  createRateLimitBuffer,
  KIND_ANNOUNCE,
  KIND_SCRAPE,
  RATE_LIMIT_ENTRIES,
  RateLimiter,
} from '../../src/tracker/rate-limit.ts';

const LIMITS = { announceRate: 2, announceBurst: 5, scrapeRate: 1, scrapeBurst: 2 };
const v4 = (...b: number[]) => Uint8Array.from(b);
const v6 = (prefix: number, low: number) => {
  const a = new Uint8Array(16);
  new DataView(a.buffer).setUint32(4, prefix);
  new DataView(a.buffer).setUint32(12, low);
  return a;
};

/** How many requests of `kind` pass at second `now`, asking `n` times. */
function passes(l: RateLimiter, kind: number, family: number, addr: Uint8Array, now: number, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.admit(kind, family, addr, now)) ok++;
  return ok;
}

test('a burst, then the rate per elapsed second, never more than the burst after a pause', () => {
  const l = new RateLimiter(LIMITS);
  const a = v4(192, 0, 2, 1);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 10, 9), 5);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 10, 9), 0);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 11, 9), 2);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 13, 9), 4);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 1000, 9), 5);
});

test('announces and scrapes have separate buckets; addresses are separate; IPv6 counts by /64', () => {
  const l = new RateLimiter(LIMITS);
  const a = v4(192, 0, 2, 1);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, a, 5, 9), 5);
  assert.equal(passes(l, KIND_SCRAPE, FAMILY_V4, a, 5, 9), 2);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, v4(192, 0, 2, 2), 5, 9), 5);
  // Two addresses of one /64 share a bucket; the next /64 has its own.
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V6, v6(7, 1), 5, 3), 3);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V6, v6(7, 2), 5, 9), 2);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V6, v6(8, 1), 5, 9), 5);
});

test('a rate of 0 limits nothing of that kind', () => {
  const l = new RateLimiter({ ...LIMITS, scrapeRate: 0 });
  assert.equal(passes(l, KIND_SCRAPE, FAMILY_V4, v4(10, 0, 0, 1), 1, 1000), 1000);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, v4(10, 0, 0, 1), 1, 1000), 5);
});

test('workers sharing the buffer share the limits', () => {
  const buffer = createRateLimitBuffer();
  const [w1, w2] = [new RateLimiter(LIMITS, buffer), new RateLimiter(LIMITS, buffer)];
  const a = v4(198, 51, 100, 7);
  assert.equal(passes(w1, KIND_ANNOUNCE, FAMILY_V4, a, 3, 3), 3);
  assert.equal(passes(w2, KIND_ANNOUNCE, FAMILY_V4, a, 3, 9), 2);
});

test('the table is bounded: many more addresses than entries, and an address that just spent its tokens stays limited', () => {
  const l = new RateLimiter(LIMITS);
  const flooder = v4(203, 0, 113, 9);
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, flooder, 50, 9), 5);
  // Four times the table's size in other addresses, each asking once (quiet ones: their buckets stay nearly full).
  const other = new Uint8Array(4);
  for (let i = 0; i < 4 * RATE_LIMIT_ENTRIES; i++) {
    new DataView(other.buffer).setUint32(0, 0x0a000000 + i);
    l.admit(KIND_ANNOUNCE, FAMILY_V4, other, 50);
  }
  assert.equal(passes(l, KIND_ANNOUNCE, FAMILY_V4, flooder, 50, 9), 0, 'the flooder was not forgotten');
});

test('property: over any sequence of requests, an address gets at most burst + rate × elapsed seconds', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 12 }) }), {
        maxLength: 30,
      }),
      (steps) => {
        const l = new RateLimiter(LIMITS);
        const a = v4(100, 64, 0, 1);
        let now = 1;
        let admitted = 0;
        for (const { dt, n } of steps) {
          now += dt;
          admitted += passes(l, KIND_ANNOUNCE, FAMILY_V4, a, now, n);
        }
        assert.ok(admitted <= LIMITS.announceBurst + LIMITS.announceRate * (now - 1));
      },
    ),
  );
});
