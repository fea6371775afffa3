// `swarmd` (serve): builds the store, the tracker and the listeners from a Config, and runs until a signal. Saved
// state and access lists are in force before the first socket listens, so no request is ever answered without them.

import path from 'node:path';
import { HashChangeset } from '../access/fifo.ts';
import { HashListFile } from '../access/list-file.ts';
import { AccessPolicy } from '../access/policy.ts';
import { TorrentDir } from '../access/torrent-dir.ts';
import { type Config, listeners } from '../config/config.ts';
import { formatHostPort } from '../config/values.ts';
import type { Logger } from '../log.ts';
import { HttpHandler, type HttpOptions } from '../net/http-handler.ts';
import { HttpServer, type HttpServerOptions } from '../net/http-server.ts';
import { NativeHttpServer } from '../net/native-http-server.ts';
import { nativeTcp } from '../net/native-tcp-addon.ts';
import type { TlsPair } from '../net/tls-credentials.ts';
import { UdpHandler } from '../net/udp-handler.ts';
import { listenUdp, type UdpListener } from '../net/udp-server.ts';
import { type DecodedState, encodeState, restoreState } from '../persist/state-file.ts';
import { loadStatedump } from '../persist/statedump.ts';
import { NetworkList } from '../protocol/networks.ts';
import { C, Counters } from '../stats/counters.ts';
import { StatsPage } from '../stats/modes.ts';
import { createMetrics } from '../stats/prometheus.ts';
import { SwarmStore } from '../swarm/store.ts';
import { ClientAddressResolver } from '../tracker/client-address.ts';
import { Clock } from '../tracker/clock.ts';
import { ConnectionIds } from '../tracker/connection-id.ts';
import { FullScrape } from '../tracker/full-scrape.ts';
import { MemoryGuard } from '../tracker/memory-guard.ts';
import { RateLimiter } from '../tracker/rate-limit.ts';
import { DeltaReader, DeltaWriter, DRAIN_INTERVAL_MS } from '../tracker/replication.ts';
import { ReplyCache } from '../tracker/reply-cache.ts';
import { Tracker } from '../tracker/tracker.ts';
import { VERSION } from '../version.ts';

/** Torrents visited per background sweep tick (one tick a second). */
const SWEEP_BUDGET_MIN = 1024;
/** Bytes of a kept reply (reply-cache.ts); longer replies are not kept. */
const REPLY_SLOT_BYTES = 1280;
/** Who may read /stats and /metrics, and who is exempt from the rate limits, when no network is configured. */
const LOOPBACK = ['127.0.0.0/8', '::1'];

/** What a worker thread shares with the others (see workers.ts and replication.ts). */
export interface WorkerShare {
  index: number;
  /** One ring per worker; this worker writes rings[index] and reads the rest. */
  rings: SharedArrayBuffer[];
  /** The connection-id key, so that an id from one worker is good at every other. */
  connectionKey: Uint8Array;
  /** The clocks' common origin (monotonicMs()), so that connection-id windows and peer ages agree. */
  clockOrigin: number;
  /** Every worker's counters (src/stats/counters.ts), so that any worker reports the whole process. */
  counters: SharedArrayBuffer;
  /** The per-address rate-limit table (rate-limit.ts), so that the limits hold for the process. */
  rateLimits: SharedArrayBuffer;
}

export interface Running {
  /** Stops listening; the swarm stays, to be saved. */
  closeListeners(): Promise<void>;
  /** Stops listening and timers; resolves when every socket is closed. */
  stop(): Promise<void>;
  /** Re-reads the access lists and rescans the allowed directory (SIGHUP). */
  reloadAccess(): Promise<void>;
  /** The swarm in swarmd's state-file format. */
  snapshot(): Promise<Buffer>;
  /** Lines read from an access FIFO (main.ts reads the FIFOs: their bytes go to one reader only). */
  fifoLines(which: 'add' | 'delete', text: string): void;
  /** A new HTTPS certificate and key (checked by main.ts's TlsCredentials), for the connections to come. */
  setTlsPair(pair: TlsPair): void;
}

/** What the main thread read once at start, for every worker: the state file and the HTTPS pair. */
export interface Preloaded {
  saved: DecodedState | null;
  tls: TlsPair | null;
}

/** `file` as the tracker opens it: relative names are found from --rootdir (-d), where it runs after binding. */
export function resolveFile(config: Config, file: string): string {
  return path.resolve(config.rootDir, file);
}

/** The access rules the config asks for, or null to serve every torrent. */
function accessPolicy(config: Config, log: Logger): AccessPolicy | null {
  const file = (name: string) => (name === '' ? undefined : new HashListFile(resolveFile(config, name), log));
  const whitelist = file(config.whitelist);
  const blacklist = file(config.blacklist);
  const allowedDir =
    config.allowedDir === ''
      ? undefined
      : new TorrentDir(resolveFile(config, config.allowedDir), config.parseDirInterval, log);
  const fifo = (name: string) => (name === '' ? undefined : new HashChangeset(resolveFile(config, name), log));
  const fifoAdd = fifo(config.fifoAdd);
  const fifoDelete = fifo(config.fifoDelete);
  if (!whitelist && !blacklist && !allowedDir && !fifoAdd && !fifoDelete) return null;
  return new AccessPolicy({ whitelist, blacklist, allowedDir, fifoAdd, fifoDelete });
}

/** What the HTTP handler takes from the configuration (HTTPS redirection aside, which only the plain port gets). */
export function httpOptionsOf(config: Config): HttpOptions {
  return {
    maxScrapeHashes: config.maxScrapeHashes,
    fullScrape: config.fullScrape,
    statsPath: config.statsPath,
    redirectUrl: config.redirectUrl,
    ipFromQuery: config.ipFromQuery,
    httpsRedirect: '',
  };
}

/**
 * The store and the tracker `config` asks for, with its rate limits, their exempt networks and the repeat cache.
 * `rateLimits`: the table shared by the workers, else one of its own.
 */
export function createTracker(
  config: Config,
  clock: Clock,
  counters: Counters,
  rateLimits?: SharedArrayBuffer,
): Tracker {
  const store = new SwarmStore({ peerTtl: config.peerTtl });
  const tracker = new Tracker(
    store,
    clock,
    {
      interval: config.interval,
      minInterval: config.minInterval,
      maxPeers: config.maxPeers,
      defaultNumwant: config.defaultNumwant,
      trackerId: config.trackerId,
      maxTorrents: config.maxTorrents,
      maxPeersPerTorrent: config.maxPeersPerTorrent,
    },
    counters,
  );
  const limits = {
    announceRate: config.announceRate,
    announceBurst: config.announceBurst,
    scrapeRate: config.scrapeRate,
    scrapeBurst: config.scrapeBurst,
  };
  if (limits.announceRate > 0 || limits.scrapeRate > 0) tracker.limiter = new RateLimiter(limits, rateLimits);
  if (config.repeatCache > 0 && config.minInterval > 0) {
    // Entries come in sets of 4; a slot holds the largest UDP reply over IPv6 (1208 bytes) or a compact HTTP one.
    tracker.repeats = new ReplyCache(Math.ceil(config.repeatCache / 4) * 4, REPLY_SLOT_BYTES);
  }
  const exempt = config.rateLimitExempt.length === 0 ? LOOPBACK : config.rateLimitExempt.filter((n) => n !== 'none');
  if (exempt.length > 0) tracker.exempt = new NetworkList(exempt);
  return tracker;
}

/**
 * Serves `config` in this thread; `share` when it is one of several workers. `preloaded`: the state file and the
 * HTTPS pair as read at start (once, by the main thread, so that a corrupt state file is set aside once).
 */
export async function serve(
  config: Config,
  log: Logger,
  preloaded: Preloaded,
  share: WorkerShare | null = null,
): Promise<Running> {
  const { saved } = preloaded;
  const clock = new Clock(share?.clockOrigin).start();
  const counters = share === null ? new Counters() : new Counters(share.counters, share.index);
  const tracker = createTracker(config, clock, counters, share?.rateLimits);
  const store = tracker.store;
  // Only the first worker reports what it loads and where it listens; they all do the same.
  const quiet = share !== null && share.index !== 0;
  const startLog = quiet ? log.child({}, { level: 'warn' }) : log;

  const access = accessPolicy(config, startLog);
  const allows = access === null ? () => true : (hash: Uint8Array, off: number) => access.allows(hash, off);
  if (access !== null) {
    await access.load();
    tracker.access = access;
  }
  if (config.statedump !== '') {
    await loadStatedump(resolveFile(config, config.statedump), store, clock, allows, startLog);
  }
  // After the statedump, so that the state file's newer figures win.
  if (saved !== null) {
    const result = restoreState(saved, store, clock, allows, config.peerTtl);
    startLog.info({ file: saved.file, ...result }, 'state restored');
  }

  const fullScrape = new FullScrape(store, config.minInterval);
  const statsContext = { store, clock, counters, fullScrape, startedAt: Date.now(), version: VERSION };
  const udpHandler = new UdpHandler(tracker, new ConnectionIds(share?.connectionKey));
  const httpOptions = httpOptionsOf(config);
  const httpServices = {
    stats: new StatsPage(statsContext),
    metrics: createMetrics(statsContext),
    statsNetworks: new NetworkList(config.statsNetworks.length > 0 ? config.statsNetworks : LOOPBACK),
    clientAddress: new ClientAddressResolver(new NetworkList(config.proxyNetworks)),
  };
  const httpHandler = new HttpHandler(tracker, fullScrape, httpOptions, httpServices);
  // --redirect-http: plain HTTP only points at HTTPS.
  const plainHandler = config.redirectHttp
    ? new HttpHandler(tracker, fullScrape, { ...httpOptions, httpsRedirect: `https://${config.domain}` }, httpServices)
    : httpHandler;

  const watchCaps = watchCapacity(config, tracker, startLog);

  // Expire idle torrents without touching them: a full pass over the table every `sweepEvery` seconds.
  const sweeper = setInterval(() => {
    const budget = Math.max(SWEEP_BUDGET_MIN, Math.ceil(store.idLimit / store.sweepEvery));
    store.sweepSome(clock.now, budget);
  }, 1000).unref();

  // Several workers: publish this one's changes, apply the others'.
  let drainer: NodeJS.Timeout | undefined;
  if (share !== null) {
    tracker.deltas = new DeltaWriter(share.rings[share.index]);
    tracker.replicas = share.rings.filter((_, i) => i !== share.index).map((ring) => new DeltaReader(ring));
    // Requests catch up by themselves; the timer keeps an idle worker from falling a whole ring behind.
    drainer = setInterval(() => tracker.catchUp(), DRAIN_INTERVAL_MS).unref();
  }

  const connectionBounds: HttpServerOptions = {
    maxHeadBytes: config.maxHeaderBytes,
    headTimeoutMs: config.headerTimeout * 1000,
    idleTimeoutMs: config.idleTimeout * 1000,
    handshakeTimeoutMs: config.handshakeTimeout * 1000,
    maxConnections: config.maxConnections,
  };
  const httpServers: (HttpServer | NativeHttpServer)[] = [];
  const httpsServers: HttpServer[] = [];
  const udpListeners: UdpListener[] = [];
  const closeListeners = async () => {
    for (const s of udpListeners) s.close();
    udpListeners.length = 0;
    await Promise.all([...httpServers, ...httpsServers].map((s) => s.close()));
    httpServers.length = 0;
    httpsServers.length = 0;
  };
  const stop = async () => {
    clearInterval(sweeper);
    clearInterval(watchCaps);
    clearInterval(drainer);
    clock.stop();
    access?.close();
    await closeListeners();
  };
  try {
    for (const { protocol, host, port, optional } of listeners(config)) {
      try {
        const address = formatHostPort(host, port);
        if (protocol === 'http') {
          const native = config.httpIo === 'native' || (config.httpIo === 'auto' && nativeTcp !== null);
          const server = native
            ? new NativeHttpServer(plainHandler, log, connectionBounds)
            : new HttpServer(plainHandler, log, connectionBounds);
          await server.listen(port, host, share !== null);
          httpServers.push(server);
          const io = native ? 'native' : 'net';
          if (config.redirectHttp) {
            startLog.info(
              { address: `http://${address}/`, to: `https://${config.domain}/`, io },
              'HTTP→HTTPS redirect',
            );
          } else {
            startLog.info({ address: `http://${address}/announce`, io }, 'HTTP tracker listening');
          }
        } else if (protocol === 'https') {
          if (preloaded.tls === null) throw new Error('HTTPS listener without a certificate');
          const server = new HttpServer(httpHandler, log, connectionBounds, preloaded.tls);
          await server.listen(port, host, share !== null);
          httpsServers.push(server);
          startLog.info({ address: `https://${address}/announce` }, 'HTTPS tracker listening');
        } else {
          const workers = share?.rings.length ?? 1;
          const udp = await listenUdp(udpHandler, host, port, log, { io: config.udpIo, workers });
          udpListeners.push(udp);
          startLog.info({ address: `udp://${address}/announce`, io: udp.io }, 'UDP tracker listening');
        }
      } catch (err) {
        if (!skippable(err, optional)) throw err;
        startLog.warn(
          { host, code: (err as NodeJS.ErrnoException).code },
          'IPv6 is not available here; serving IPv4 only',
        );
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  access?.start();
  return {
    closeListeners,
    stop,
    reloadAccess: async () => {
      await access?.reload('SIGHUP');
    },
    snapshot: () => {
      tracker.catchUp();
      return encodeState(store, clock);
    },
    fifoLines: (which, text) => access?.fifoLines(which, text),
    setTlsPair: (pair) => {
      for (const server of httpsServers) server.setTlsPair(pair);
    },
  };
}

/** How often a reached cap is logged again while it lasts. */
const CAP_LOG_EVERY_MS = 60_000;

/**
 * Once a second: keeps the tracker within --max-memory (memory-guard.ts), and logs when a cap refused torrents or
 * peers (at most once a minute; /metrics counts every refusal).
 */
function watchCapacity(config: Config, tracker: Tracker, log: Logger): NodeJS.Timeout {
  const guard = config.maxMemory > 0 ? new MemoryGuard(config.maxMemory) : null;
  const counts = tracker.counters.values;
  let refusals = counts[C.capRefused];
  let loggedAt = 0;
  const tick = () => {
    if (guard?.check()) {
      tracker.admitting = guard.admitting;
      const fields = { rssMiB: Math.round(guard.lastRss / 1048576), budgetMiB: config.maxMemory };
      if (guard.admitting) log.info(fields, 'memory below the budget again: taking new torrents and peers');
      else log.warn(fields, 'memory near the budget (--max-memory): refusing new torrents and peers');
    }
    const now = Date.now();
    if (counts[C.capRefused] > refusals && now - loggedAt >= CAP_LOG_EVERY_MS) {
      const { torrents, peers } = tracker.store;
      log.warn(
        { refused: counts[C.capRefused] - refusals, torrents, peers },
        'a cap was reached (--max-torrents, --max-peers-per-torrent or --max-memory): new torrents or peers refused',
      );
      refusals = counts[C.capRefused];
      loggedAt = now;
    }
  };
  tick();
  return setInterval(tick, 1000).unref();
}

/** Whether `err`, from listening on an `optional` address, only says that this machine has no IPv6. */
export function skippable(err: unknown, optional: boolean): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return optional && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL');
}
