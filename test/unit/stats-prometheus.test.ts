// /metrics: the exposition text carries the counters and the swarm's figures, from a private registry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { C, Counters, createCounterBuffer } from '../../src/stats/counters.ts';
import { createMetrics } from '../../src/stats/prometheus.ts';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { Clock } from '../../src/tracker/clock.ts';
import { FullScrape } from '../../src/tracker/full-scrape.ts';

/** Samples of an exposition text: `name{label="v",…}` (labels sorted) → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `not a sample line: ${line}`);
    const labels =
      m[2] === undefined ? [] : [...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`);
    const key = labels.length > 0 ? `${m[1]}{${labels.sort().join(',')}}` : m[1];
    assert.ok(!out.has(key), `duplicate sample ${key}`);
    out.set(key, Number(m[3]));
  }
  return out;
}

function endpoint(family: number, n: number): Buffer {
  const ep = Buffer.alloc(family === FAMILY_V4 ? 6 : 18);
  ep[0] = family === FAMILY_V4 ? 10 : 0x20;
  ep[ep.length - 3] = n;
  ep[ep.length - 1] = 1;
  return ep;
}

function context(counters: Counters) {
  const store = new SwarmStore({ peerTtl: 3600 });
  const hash = Buffer.alloc(20, 7);
  // IPv4: 2 seeders, 1 leecher, 1 partial seed; IPv6: 1 seeder, 2 leechers; and a second torrent with one v4 seeder.
  store.announce(hash, FAMILY_V4, endpoint(FAMILY_V4, 1), true, false, false, 1);
  store.announce(hash, FAMILY_V4, endpoint(FAMILY_V4, 2), true, false, false, 1);
  store.announce(hash, FAMILY_V4, endpoint(FAMILY_V4, 3), false, false, false, 1);
  store.announce(hash, FAMILY_V4, endpoint(FAMILY_V4, 4), false, true, false, 1);
  store.announce(hash, FAMILY_V6, endpoint(FAMILY_V6, 1), true, false, false, 1);
  store.announce(hash, FAMILY_V6, endpoint(FAMILY_V6, 2), false, false, false, 1);
  store.announce(hash, FAMILY_V6, endpoint(FAMILY_V6, 3), false, false, false, 1);
  store.announce(Buffer.alloc(20, 8), FAMILY_V4, endpoint(FAMILY_V4, 1), true, false, false, 1);
  return {
    store,
    clock: new Clock(),
    counters,
    fullScrape: new FullScrape(store, 60),
    startedAt: Date.now() - 90_000,
    version: 'swarmd 0.1.0',
  };
}

test('the exposition carries every counter, the swarm gauges and the process metrics', async () => {
  const counters = new Counters();
  const v = counters.values;
  v[C.tcpAccepts] = 1;
  v[C.tcpAnnounces] = 2;
  v[C.tcpScrapes] = 3;
  v[C.fullScrapes] = 4;
  v[C.fullScrapeBytes] = 5;
  v[C.udpPackets] = 6;
  v[C.udpConnects] = 7;
  v[C.udpAnnounces] = 8;
  v[C.udpScrapes] = 9;
  v[C.udpMismatch] = 10;
  v[C.completed] = 11;
  v[C.refused] = 12;
  v[C.syncs] = 13;
  v[C.badParameter] = 14;
  counters.httpStatus(404);
  counters.httpStatus(404);
  counters.httpStatus(505);
  counters.renew(0);
  counters.renew(3 * 60 + 5);
  counters.renew(99_999);
  const metrics = createMetrics(context(counters));
  assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  const s = samples(await metrics.render());
  const expected: Record<string, number> = {
    'swarmd_requests_total{action="announce",protocol="http"}': 2,
    'swarmd_requests_total{action="scrape",protocol="http"}': 3,
    'swarmd_requests_total{action="full_scrape",protocol="http"}': 4,
    'swarmd_requests_total{action="connect",protocol="udp"}': 7,
    'swarmd_requests_total{action="announce",protocol="udp"}': 8,
    'swarmd_requests_total{action="scrape",protocol="udp"}': 9,
    swarmd_http_connections_total: 1,
    swarmd_udp_packets_total: 6,
    swarmd_udp_connection_id_mismatches_total: 10,
    swarmd_full_scrape_bytes_total: 5,
    swarmd_completed_total: 11,
    swarmd_announces_refused_total: 12,
    swarmd_sync_records_total: 13,
    swarmd_bad_parameters_total: 14,
    'swarmd_http_responses_total{status="404"}': 2,
    'swarmd_http_responses_total{status="505"}': 1,
    'swarmd_http_responses_total{status="302"}': 0,
    'swarmd_renews_total{age_minutes="0"}': 1,
    'swarmd_renews_total{age_minutes="3"}': 1,
    'swarmd_renews_total{age_minutes="44"}': 1,
    'swarmd_renews_total{age_minutes="1"}': 0,
    swarmd_torrents: 2,
    'swarmd_peers{family="ipv4",state="seeder"}': 3,
    'swarmd_peers{family="ipv4",state="leecher"}': 2,
    'swarmd_peers{family="ipv6",state="seeder"}': 1,
    'swarmd_peers{family="ipv6",state="leecher"}': 2,
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(s.get(key), value, key);
  assert.equal([...s.keys()].filter((k) => k.startsWith('swarmd_http_responses_total')).length, 10);
  assert.equal([...s.keys()].filter((k) => k.startsWith('swarmd_renews_total')).length, 45);
  const uptime = s.get('swarmd_uptime_seconds') as number;
  assert.ok(uptime >= 90 && uptime < 100, String(uptime));
  assert.ok(s.has('process_cpu_user_seconds_total'));
  assert.ok(s.has('nodejs_heap_size_total_bytes'));
});

test('figures are read at each render', async () => {
  const counters = new Counters();
  const ctx = context(counters);
  const metrics = createMetrics(ctx);
  assert.equal(samples(await metrics.render()).get('swarmd_completed_total'), 0);
  counters.values[C.completed] += 3;
  ctx.store.announce(Buffer.alloc(20, 9), FAMILY_V6, endpoint(FAMILY_V6, 9), true, false, true, 1);
  const s = samples(await metrics.render());
  assert.equal(s.get('swarmd_completed_total'), 3);
  assert.equal(s.get('swarmd_torrents'), 3);
  assert.equal(s.get('swarmd_peers{family="ipv6",state="seeder"}'), 2);
});

test('each worker renders the whole process from its own private registry', async () => {
  const buffer = createCounterBuffer(2);
  const workers = [new Counters(buffer, 0), new Counters(buffer, 1)];
  workers[0].values[C.udpPackets] += 5;
  workers[1].values[C.udpPackets] += 7;
  workers[1].httpStatus(400);
  const renders = await Promise.all(workers.map((c) => createMetrics(context(c)).render()));
  for (const text of renders) {
    const s = samples(text);
    assert.equal(s.get('swarmd_udp_packets_total'), 12);
    assert.equal(s.get('swarmd_http_responses_total{status="400"}'), 1);
  }
});
