// `swarmd` (serve): builds the store, the tracker and the listeners from a Config, and runs until a signal.

import type { Config } from '../config/cli.ts';
import type { Logger } from '../log.ts';
import { HttpHandler } from '../net/http-handler.ts';
import { HttpServer } from '../net/http-server.ts';
import { NativeHttpServer } from '../net/native-http-server.ts';
import { nativeTcp } from '../net/native-tcp-addon.ts';
import { UdpHandler } from '../net/udp-handler.ts';
import { listenUdp, type UdpListener } from '../net/udp-server.ts';
import { SwarmStore } from '../swarm/store.ts';
import { Clock } from '../tracker/clock.ts';
import { ConnectionIds } from '../tracker/connection-id.ts';
import { FullScrape } from '../tracker/full-scrape.ts';
import { DeltaReader, DeltaWriter, DRAIN_INTERVAL_MS } from '../tracker/replication.ts';
import { Tracker } from '../tracker/tracker.ts';

/** Torrents visited per background sweep tick (one tick a second). */
const SWEEP_BUDGET_MIN = 1024;

/** What a worker thread shares with the others (see workers.ts and replication.ts). */
export interface WorkerShare {
  index: number;
  /** One ring per worker; this worker writes rings[index] and reads the rest. */
  rings: SharedArrayBuffer[];
  /** The connection-id key, so that an id from one worker is good at every other. */
  connectionKey: Uint8Array;
  /** The clocks' common origin (monotonicMs()), so that connection-id windows and peer ages agree. */
  clockOrigin: number;
}

export interface Running {
  /** Stops listening and timers; resolves when every socket is closed. */
  stop(): Promise<void>;
  tracker: Tracker;
}

/** Where to listen: the given hosts, or every IPv4 and IPv6 address. `optional` ones may fail (no IPv6 here). */
export function listenAddresses(config: Config): { host: string; optional: boolean }[] {
  if (config.hosts.length === 0) {
    return [
      { host: '0.0.0.0', optional: false },
      { host: '::', optional: true },
    ];
  }
  const list = config.hosts.map((host) => ({ host, optional: false }));
  if (config.ipv6 && !config.hosts.includes('::')) list.push({ host: '::', optional: false });
  return list;
}

/** Whether `err`, from listening on an `optional` address, only says that this machine has no IPv6. */
export function skippable(err: unknown, optional: boolean): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return optional && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL');
}

/** Serves `config` in this thread; `share` when it is one of several workers. */
export async function serve(config: Config, log: Logger, share: WorkerShare | null = null): Promise<Running> {
  const clock = new Clock(share?.clockOrigin).start();
  const store = new SwarmStore({ peerTtl: config.peerTtl });
  const tracker = new Tracker(store, clock, {
    interval: config.interval,
    minInterval: config.minInterval,
    maxPeers: config.maxPeers,
    defaultNumwant: config.defaultNumwant,
    trackerId: config.trackerId,
  });
  const udpHandler = new UdpHandler(tracker, new ConnectionIds(share?.connectionKey));
  const httpHandler = new HttpHandler(tracker, new FullScrape(store, config.minInterval), {
    maxScrapeHashes: config.maxScrapeHashes,
    fullScrape: config.fullScrape,
  });

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
  // Only the first worker says where it listens; they all listen on the same ports.
  const announceListening = share === null || share.index === 0;

  const httpServers: (HttpServer | NativeHttpServer)[] = [];
  const udpListeners: UdpListener[] = [];
  const stop = async () => {
    clearInterval(sweeper);
    clearInterval(drainer);
    clock.stop();
    for (const s of udpListeners) s.close();
    await Promise.all(httpServers.map((s) => s.close()));
  };
  try {
    for (const { host, optional } of listenAddresses(config)) {
      const shown = host.includes(':') ? `[${host}]` : host;
      try {
        if (config.httpPort !== 0) {
          const native = config.httpIo === 'native' || (config.httpIo === 'auto' && nativeTcp !== null);
          const server = native ? new NativeHttpServer(httpHandler, log) : new HttpServer(httpHandler, log);
          await server.listen(config.httpPort, host, share !== null);
          httpServers.push(server);
          if (announceListening) {
            const io = native ? 'native' : 'net';
            log.info({ address: `http://${shown}:${config.httpPort}/announce`, io }, 'HTTP tracker listening');
          }
        }
        if (config.udpPort !== 0) {
          const workers = share?.rings.length ?? 1;
          const udp = await listenUdp(udpHandler, host, config.udpPort, log, { io: config.udpIo, workers });
          udpListeners.push(udp);
          if (announceListening) {
            log.info({ address: `udp://${shown}:${config.udpPort}/announce`, io: udp.io }, 'UDP tracker listening');
          }
        }
      } catch (err) {
        if (!skippable(err, optional)) throw err;
        log.warn({ host, code: (err as NodeJS.ErrnoException).code }, 'IPv6 is not available here; serving IPv4 only');
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop, tracker };
}
