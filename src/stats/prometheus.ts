// /metrics in the Prometheus text format. The figures are read when Prometheus scrapes, from the same counters and
// store as /stats, so the hot path keeps one set of counters for both. The registry is private to each call of createMetrics(),
// so a test, or a second tracker in one process, never sees another's metrics; several workers each render the
// process-wide totals, since Counters sums every worker's region.
//
// Re-announce ages are a counter labelled by whole minutes (`swarmd_renews_total{age_minutes="7"}`), not a
// histogram: the tracker keeps counts per minute but no sum of ages, and a histogram without a true sum would mislead.

import { Counter, collectDefaultMetrics, Gauge, type LabelValues, Registry } from 'prom-client';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import { C, HTTP_STATUSES, RENEW_MINUTES } from './counters.ts';
import { type StatsContext, type SwarmTally, tallySwarm } from './modes.ts';

export interface Metrics {
  /** The Content-Type of render()'s text. */
  contentType: string;
  render(): Promise<string>;
}

type Put = (value: number, labels?: LabelValues<string>) => void;

export function createMetrics(ctx: StatsContext): Metrics {
  const { counters, store } = ctx;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const total = (index: number) => counters.total(index);
  // Taken at the start of each render, read by the collectors it triggers.
  let tally: SwarmTally | null = null;

  const counter = (name: string, help: string, labelNames: string[], fill: (set: Put) => void) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((value, labels) => (labels === undefined ? this.inc(value) : this.inc(labels, value)));
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], fill: (set: Put) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((value, labels) => (labels === undefined ? this.set(value) : this.set(labels, value)));
      },
    });

  counter('swarmd_requests_total', 'Requests answered, by protocol and action.', ['protocol', 'action'], (set) => {
    set(total(C.tcpAnnounces), { protocol: 'http', action: 'announce' });
    set(total(C.tcpScrapes), { protocol: 'http', action: 'scrape' });
    set(total(C.fullScrapes), { protocol: 'http', action: 'full_scrape' });
    set(total(C.udpConnects), { protocol: 'udp', action: 'connect' });
    set(total(C.udpAnnounces), { protocol: 'udp', action: 'announce' });
    set(total(C.udpScrapes), { protocol: 'udp', action: 'scrape' });
  });
  // The counters that are one process-wide total each, in the order /metrics lists them.
  const totals: [name: string, help: string, index: number][] = [
    ['swarmd_http_connections_total', 'HTTP connections accepted.', C.tcpAccepts],
    ['swarmd_udp_packets_total', 'UDP datagrams received.', C.udpPackets],
    ['swarmd_udp_connection_id_mismatches_total', 'UDP requests with a wrong or expired connection id.', C.udpMismatch],
    [
      'swarmd_full_scrape_bytes_total',
      'Body bytes of full scrapes sent (/scrape and /stats?mode=tpbs), compressed or not.',
      C.fullScrapeBytes,
    ],
    ['swarmd_completed_total', 'Completed downloads counted.', C.completed],
    [
      'swarmd_rate_limited_total',
      'Announces and scrapes refused by the per-address rate limit (HTTP and UDP).',
      C.rateLimited,
    ],
    [
      'swarmd_repeat_announces_cached_total',
      'Announces answered with the reply kept for a peer re-announcing before min interval, without touching the swarm.',
      C.repeatsCached,
    ],
    [
      'swarmd_cap_refusals_total',
      'Announces refused, or peers not stored, because a cap was reached (torrents, peers per torrent, memory).',
      C.capRefused,
    ],
    [
      'swarmd_http_connections_cut_total',
      'HTTP(S) connections closed by a bound: late head, idle, TLS handshake, too many connections.',
      C.connectionsCut,
    ],
    ['swarmd_announces_refused_total', 'Announces refused by the access list.', C.refused],
    ['swarmd_bad_parameters_total', 'HTTP requests refused with a failure reason for a bad parameter.', C.badParameter],
    ['swarmd_sync_records_total', 'Peer records received from other cluster nodes.', C.syncs],
  ];
  for (const [name, help, index] of totals) counter(name, help, [], (set) => set(total(index)));
  counter('swarmd_http_responses_total', 'HTTP error responses, by status.', ['status'], (set) => {
    for (const status of HTTP_STATUSES) set(counters.statusTotal(status), { status: String(status) });
  });
  counter(
    'swarmd_renews_total',
    `Re-announces by whole minutes since the peer's previous one (${RENEW_MINUTES - 1}: that long or longer).`,
    ['age_minutes'],
    (set) => {
      for (let m = 0; m < RENEW_MINUTES; m++) set(counters.renewTotal(m), { age_minutes: String(m) });
    },
  );

  gauge('swarmd_torrents', 'Torrents in the swarm store.', [], (set) => set(store.torrents));
  gauge(
    'swarmd_peers',
    'Peers by address family and state (leechers include partial seeds).',
    ['family', 'state'],
    (set) => {
      if (tally === null) return;
      for (const [family, name] of [
        [FAMILY_V4, 'ipv4'],
        [FAMILY_V6, 'ipv6'],
      ] as const) {
        set(tally.familySeeders[family], { family: name, state: 'seeder' });
        set(tally.familyLeechers[family], { family: name, state: 'leecher' });
      }
    },
  );
  gauge('swarmd_uptime_seconds', 'Seconds since the tracker started.', [], (set) =>
    set(Math.max(0, (Date.now() - ctx.startedAt) / 1000)),
  );

  return {
    contentType: registry.contentType,
    async render() {
      tally = await tallySwarm(store);
      return registry.metrics();
    },
  };
}
