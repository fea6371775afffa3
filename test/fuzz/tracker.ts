// A whole tracker in-process, built the way src/cli/serve.ts builds one (store, clock, tracker, both handlers and the
// HTTP services), for the fuzz targets that feed it bytes; and a fingerprint of the swarm to tell what they changed.

import fc from 'fast-check';
import { HttpHandler, type HttpOptions, type HttpServices } from '../../src/net/http-handler.ts';
import { UdpHandler } from '../../src/net/udp-handler.ts';
import { createAnnounceRequest, EVENT_PAUSED, EVENT_STARTED } from '../../src/protocol/announce.ts';
import { NetworkList } from '../../src/protocol/networks.ts';
import { Counters } from '../../src/stats/counters.ts';
import { StatsPage } from '../../src/stats/modes.ts';
import { createMetrics } from '../../src/stats/prometheus.ts';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { ClientAddressResolver } from '../../src/tracker/client-address.ts';
import { Clock } from '../../src/tracker/clock.ts';
import { ConnectionIds } from '../../src/tracker/connection-id.ts';
import { FullScrape } from '../../src/tracker/full-scrape.ts';
import { RateLimiter } from '../../src/tracker/rate-limit.ts';
import { ReplyCache } from '../../src/tracker/reply-cache.ts';
import { PEERS_BOTH_FAMILIES, Tracker } from '../../src/tracker/tracker.ts';
import { bytes } from './mutate.ts';

/** Torrents whose hash starts with this byte are refused by the access rules, to reach that path too. */
export const REFUSED_HASH_BYTE = 0xff;

/** Info hashes of the torrents the fixture starts with (IPv4 and IPv6 peers, seeders and leechers). */
export const SEEDED_HASHES: readonly Buffer[] = [0x11, 0x22, 0x33].map((b) => Buffer.alloc(20, b));

/** Torrents the fixture does not start with, few enough that announces keep finding the same ones. */
const NEW_HASHES: readonly Buffer[] = Array.from({ length: 16 }, (_, k) => Buffer.alloc(20, 0x40 + k));

/** A torrent the fixture has, a new one, or one the access rules refuse. */
export const infoHash: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SEEDED_HASHES) },
  { weight: 3, arbitrary: fc.constantFrom(...NEW_HASHES) },
  { weight: 1, arbitrary: bytes(20) },
  { weight: 1, arbitrary: bytes(19).map((b) => Buffer.concat([Buffer.of(REFUSED_HASH_BYTE), b])) },
);

/** A port, mostly one of a few, so that re-announces update peers more often than they add them. */
export const port: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 6881, max: 6888 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
);

/** A loopback client (allowed /stats and /metrics, and a trusted proxy), and addresses that are neither. */
export const CLIENTS = [
  { family: FAMILY_V4, addr: Uint8Array.of(127, 0, 0, 1) },
  { family: FAMILY_V4, addr: Uint8Array.of(203, 0, 113, 7) },
  { family: FAMILY_V6, addr: Uint8Array.from(Buffer.from('20010db8000000000000000000000042', 'hex')) },
  { family: FAMILY_V6, addr: Uint8Array.from(Buffer.from('00000000000000000000000000000001', 'hex')) },
] as const;

export interface Fixture {
  store: SwarmStore;
  tracker: Tracker;
  ids: ConnectionIds;
  /** The handler of the plain HTTP port with every service, and one that redirects to HTTPS (--redirect-http). */
  http: HttpHandler;
  redirecting: HttpHandler;
  udp: UdpHandler;
  /** Info hashes Tracker.announce was called with since the last clear: the only torrents a request may change. */
  announced: Buffer[];
}

/** The caps of the fixture: low, so that the fuzz targets reach them (and the refusals past them). */
export const MAX_TORRENTS = 40;
export const MAX_PEERS_PER_TORRENT = 16;

export interface FixtureOptions {
  /** --ip-from-query. */
  ipFromQuery?: boolean;
  /** Per-address rate limits, with bursts small enough to run out (the clock stands still, so they stay out). */
  rateLimited?: boolean;
}

/**
 * A tracker with the abuse controls serve() sets by default — caps, the repeat-announce cache — and rate limits on
 * demand; with the seeded torrents in it.
 */
export function createTracker(rateLimited = false): Tracker {
  // Never started: time stands still, so nothing expires between two looks at the swarm.
  const clock = new Clock();
  const tracker = new Tracker(
    new SwarmStore({ peerTtl: 3600 }, 64),
    clock,
    {
      interval: 1800,
      minInterval: 900,
      maxPeers: 50,
      defaultNumwant: 50,
      trackerId: 'fuzz',
      maxTorrents: MAX_TORRENTS,
      maxPeersPerTorrent: MAX_PEERS_PER_TORRENT,
    },
    new Counters(),
  );
  // Slots of 1280 bytes, as serve() makes them: the largest UDP reply over IPv6 fits.
  tracker.repeats = new ReplyCache(64, 1280);
  if (rateLimited) {
    tracker.limiter = new RateLimiter({ announceRate: 1, announceBurst: 40, scrapeRate: 1, scrapeBurst: 40 });
  }
  tracker.access = { allows: (hash, off) => hash[off] !== REFUSED_HASH_BYTE };
  seed(tracker);
  return tracker;
}

/** createTracker() with both handlers and the HTTP services, as serve() builds them. */
export function createFixture({ ipFromQuery = false, rateLimited = false }: FixtureOptions = {}): Fixture {
  const tracker = createTracker(rateLimited);
  const { store, clock, counters } = tracker;

  const announced: Buffer[] = [];
  const announce = tracker.announce.bind(tracker);
  tracker.announce = (req, ...rest) => {
    announced.push(Buffer.from(req.infoHash));
    return announce(req, ...rest);
  };

  const fullScrape = new FullScrape(store, 900);
  const stats = { store, clock, counters, fullScrape, startedAt: Date.now(), version: 'swarmd fuzz' };
  const options: HttpOptions = {
    maxScrapeHashes: 8,
    fullScrape: true,
    statsPath: 'stats',
    redirectUrl: 'https://example.org/',
    ipFromQuery,
    httpsRedirect: '',
  };
  const services: HttpServices = {
    stats: new StatsPage(stats),
    metrics: createMetrics(stats),
    statsNetworks: new NetworkList(['127.0.0.0/8', '::1']),
    clientAddress: new ClientAddressResolver(new NetworkList(['127.0.0.0/8', '::1'])),
  };
  const ids = new ConnectionIds();
  return {
    store,
    tracker,
    ids,
    http: new HttpHandler(tracker, fullScrape, options, services),
    redirecting: new HttpHandler(
      tracker,
      fullScrape,
      { ...options, httpsRedirect: 'https://tracker.example' },
      services,
    ),
    udp: new UdpHandler(tracker, ids),
    announced,
  };
}

/** A few peers of both families on each seeded torrent, one of them a partial seed, announced the usual way. */
function seed(tracker: Tracker): void {
  const req = createAnnounceRequest();
  SEEDED_HASHES.forEach((hash, t) => {
    hash.copy(req.infoHash);
    for (let p = 0; p < 4; p++) {
      req.port = 6881 + p;
      req.left = p === 0 ? 0 : 1000;
      req.event = p === 3 ? EVENT_PAUSED : EVENT_STARTED; // a partial seed, or a peer that started
      const v6 = p % 2 === 1;
      const addr = v6 ? Buffer.from(`20010db8${'0'.repeat(22)}${t}${p}`, 'hex') : Uint8Array.of(10, 0, t, p);
      tracker.announce(req, v6 ? FAMILY_V6 : FAMILY_V4, addr, PEERS_BOTH_FAMILIES, 50);
    }
  });
}

/**
 * A fixture made anew once its swarm holds more than `limit` torrents and peers together: every request is checked
 * against a fingerprint of the whole swarm, which must stay small for a long run to stay fast.
 */
export function renewing(make: () => Fixture, limit = 300): () => Fixture {
  let fixture = make();
  return () => {
    if (fixture.store.torrents + fixture.store.peers > limit) fixture = make();
    return fixture;
  };
}

/**
 * Everything the store keeps, torrent by torrent (hash hex → its figures, peers and their times and flags). The peers
 * of each part (downloaders, upload-only) are listed sorted: their order in the block is random by design.
 */
export function swarmFingerprint(store: SwarmStore): Map<string, string> {
  const torrents = new Map<string, string>();
  const hash = Buffer.alloc(20);
  for (let tid = 0; tid < store.idLimit; tid++) {
    if (!store.isAlive(tid)) continue;
    store.copyHash(tid, hash, 0);
    const parts = [`downloaded ${store.downloaded(tid)} active ${store.lastActive(tid)}`];
    for (const pool of store.pools) {
      const start = pool.blockStartOf(tid);
      const n = pool.countOf(tid);
      parts.push(`${n} peers, ${pool.downloadersOf(tid)} downloading, ${pool.partialsOf(tid)} partial`);
      const peers: string[] = [];
      for (let slot = start; slot < start + n; slot++) {
        const endpoint = Buffer.from(pool.endpoints.subarray(slot * pool.stride, (slot + 1) * pool.stride));
        peers.push(`${endpoint.toString('hex')} seen ${pool.lastSeen[slot]} flags ${pool.flags[slot]}`);
      }
      const downloaders = pool.downloadersOf(tid);
      parts.push(...peers.slice(0, downloaders).sort(), ...peers.slice(downloaders).sort());
    }
    torrents.set(hash.toString('hex'), parts.join('; '));
  }
  return torrents;
}

/**
 * Checks that between two fingerprints only torrents in `announced` changed (appeared, went or differ), and that the
 * peer count moved by at most one per announce.
 */
export function onlyAnnouncedChanged(
  before: Map<string, string>,
  after: Map<string, string>,
  announced: readonly Buffer[],
  peersMoved: number,
): string | null {
  const allowed = new Set(announced.map((h) => h.toString('hex')));
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (before.get(key) !== after.get(key) && !allowed.has(key)) {
      return `torrent ${key} changed though nothing announced it: ${before.get(key)} → ${after.get(key)}`;
    }
  }
  if (Math.abs(peersMoved) > announced.length) return `${peersMoved} peers moved for ${announced.length} announces`;
  return null;
}
