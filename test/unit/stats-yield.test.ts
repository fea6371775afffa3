// Stats over a large table run in slices: the event loop keeps turning while every torrent is walked. A generous
// bound, as a check that slicing happens, not a benchmark.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counters } from '../../src/stats/counters.ts';
import { StatsPage } from '../../src/stats/modes.ts';
import { createMetrics } from '../../src/stats/prometheus.ts';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { Clock } from '../../src/tracker/clock.ts';
import { FullScrape } from '../../src/tracker/full-scrape.ts';

const TORRENTS = 200_000;
const MAX_STALL_MS = 200;

/** How often the event loop turned while `work` ran, and the longest time between two turns (ms). */
async function loopTurns(work: () => Promise<unknown>): Promise<{ turns: number; longest: number }> {
  let turns = 0;
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  await work();
  running = false;
  return { turns, longest };
}

test(`modes that walk ${TORRENTS} torrents yield to the event loop`, async () => {
  const store = new SwarmStore({ peerTtl: 3600 });
  const clock = new Clock();
  const hash = Buffer.alloc(20);
  const v4 = Buffer.alloc(6);
  const v6 = Buffer.alloc(18);
  for (let t = 0; t < TORRENTS; t++) {
    hash.writeUInt32BE(Math.imul(t, 2654435761) >>> 0, 0);
    hash.writeUInt32BE(t, 16);
    v4.writeUInt32BE(0x0a000000 + t * 7, 0);
    store.announce(hash, FAMILY_V4, v4, t % 3 === 0, false, false, clock.now);
    if (t % 4 === 0) {
      v6.writeUInt32BE(0x20010db8, 0);
      v6.writeUInt32BE(t, 4);
      store.announce(hash, FAMILY_V6, v6, false, false, false, clock.now);
    }
  }
  const ctx = {
    store,
    clock,
    counters: new Counters(),
    fullScrape: new FullScrape(store, 60),
    startedAt: Date.now(),
    version: 'swarmd 0.1.0',
  };
  const page = new StatsPage(ctx);
  const metrics = createMetrics(ctx);
  const runs: Array<[string, () => Promise<unknown>]> = [
    ['peer', () => page.respond('mode=peer', false)],
    ['statedump', () => page.respond('mode=statedump', true)],
    ['tpbs', () => page.respond('mode=tpbs&format=txt', false)],
    ['top100', () => page.respond('mode=top100', false)],
    ['s24s', () => page.respond('mode=s24s', false)],
    ['busy', () => page.respond('mode=busy', false)],
    ['everything', () => page.respond('mode=everything', false)],
    ['metrics', () => metrics.render()],
  ];
  for (const [name, run] of runs) {
    const { turns, longest } = await loopTurns(run);
    // A walk in one go would let the loop turn once or twice at most.
    assert.ok(turns >= 5, `${name}: the event loop turned only ${turns} times`);
    assert.ok(longest < MAX_STALL_MS, `${name}: the event loop stalled for ${longest.toFixed(0)} ms`);
  }
  const peer = (await page.respond('mode=peer', false)).body.toString();
  assert.equal(
    peer,
    `${TORRENTS + TORRENTS / 4}\n${Math.ceil(TORRENTS / 3)}\nopentracker serving ${TORRENTS} torrents\nopentracker`,
  );
  const dump = (await page.respond('mode=statedump', false)).body.toString('latin1');
  assert.equal(dump.split('\n').length, TORRENTS + 1);
});
