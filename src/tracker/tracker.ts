// What a tracker decides, the same for every protocol: how many peers a client gets and of which family, whom it
// never gets (itself; seeders when it is a seeder), intervals with jitter, what a scrape reports.

import {
  type AnnounceRequest,
  EVENT_COMPLETED,
  EVENT_NONE,
  EVENT_PAUSED,
  EVENT_STARTED,
  EVENT_STOPPED,
} from '../protocol/announce.ts';
import type { AnnounceReply, PeerLists, ScrapeEntry } from '../protocol/http-replies.ts';
import type { NetworkList } from '../protocol/networks.ts';
import { C, Counters } from '../stats/counters.ts';
import { MAX_RUNS } from '../swarm/peer-pool.ts';
import { randomBelow } from '../swarm/random.ts';
import { FAMILY_V4, FAMILY_V6, type SwarmStore } from '../swarm/store.ts';
import type { Clock } from './clock.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { DeltaReader, DeltaWriter } from './replication.ts';
import type { ReplyCache } from './reply-cache.ts';

export interface TrackerOptions {
  interval: number;
  minInterval: number;
  /** Cap on peers per reply; also the most a client may ask for. */
  maxPeers: number;
  /** Peers sent when the client does not say. */
  defaultNumwant: number;
  trackerId: string;
  /** Most torrents the swarm holds, and most peers per torrent; 0 or absent: no cap. */
  maxTorrents?: number;
  maxPeersPerTorrent?: number;
}

/** Which torrents the tracker serves (access lists, allowed directory); see src/access/policy.ts. */
export interface TorrentFilter {
  allows(hash: Uint8Array, off: number): boolean;
}

/** What a refused announce is told, over HTTP and UDP: opentracker's words, which clients already show. */
export const REFUSED_REASON = 'Requested download is not authorized for use with this tracker.';
/** What a request over the rate limit is told (HTTP adds BEP 31's `retry in`, RATE_LIMITED_RETRY_MINUTES). */
export const RATE_LIMITED_REASON = 'too many requests from your address: slow down';
export const RATE_LIMITED_RETRY_MINUTES = 1;
/** What an announce that would start a torrent is told when the tracker holds all it may (a cap or the memory budget). */
export const FULL_REASON = 'this tracker is full: it takes no new torrents now';

/** Which families of peers a reply carries. */
export const PEERS_OWN_FAMILY = 0; // UDP: the datagram format fixes the family
export const PEERS_BOTH_FAMILIES = 1; // HTTP: `peers` and `peers6`

export class Tracker {
  readonly store: SwarmStore;
  readonly clock: Clock;
  readonly options: TrackerOptions;
  readonly counters: Counters;
  /** Torrents not allowed are refused at announce and left out of scrapes; null serves every torrent. */
  access: TorrentFilter | null = null;
  /** The reply of the last announce(); reused, valid until the next call. */
  readonly reply: AnnounceReply;
  private readonly endpoint = new Uint8Array(18);
  /** With several workers: where this one publishes its changes for the others (replication.ts). */
  deltas: DeltaWriter | null = null;
  /** With several workers: the others' changes, applied before every request that reads the swarm. */
  replicas: DeltaReader[] = [];
  /** Per-address limits on announces and scrapes; null sets none. */
  limiter: RateLimiter | null = null;
  /**
   * Sources the limits never refuse and the repeat cache never answers (the operator's own hosts, loopback by
   * default: local tools, monitoring, benchmarks); null: none.
   */
  exempt: NetworkList | null = null;
  /** The request in progress comes from an `exempt` network (set by admit(), which every request passes first). */
  private sourceExempt = false;
  /** False while the memory budget is nearly spent (see memory-guard.ts): no new torrents or peers. */
  admitting = true;
  /** Replies kept for peers that re-announce before `min interval` (reply-cache.ts); null keeps none. */
  repeats: ReplyCache | null = null;
  /** The last announce() came from a known peer whose previous announce was less than `min interval` ago. */
  private repeated = false;
  /** Why the last announce() returned null, for the reply. */
  refusal = REFUSED_REASON;

  constructor(store: SwarmStore, clock: Clock, options: TrackerOptions, counters = new Counters()) {
    this.store = store;
    this.clock = clock;
    this.options = options;
    this.counters = counters;
    const [v4, v6] = store.pools;
    const peers: PeerLists = {
      v4: { endpoints: v4.endpointsBuffer, runs: new Int32Array(2 * MAX_RUNS), runCount: 0, count: 0 },
      v6: { endpoints: v6.endpointsBuffer, runs: new Int32Array(2 * MAX_RUNS), runCount: 0, count: 0 },
    };
    this.reply = {
      complete: 0,
      incomplete: 0,
      downloaded: 0,
      interval: options.interval,
      minInterval: options.minInterval,
      externalIp: new Uint8Array(16),
      externalIpLength: 0,
      trackerId: options.trackerId,
      peers,
    };
  }

  /**
   * Whether a request of `kind` (KIND_ANNOUNCE, KIND_SCRAPE) from `addr`, its source, is within the rate limit; counts
   * the ones that are not. Asked before any other work, so a refused request costs a table lookup.
   */
  admit(kind: number, family: number, addr: Uint8Array): boolean {
    this.sourceExempt = this.exempt?.contains(addr, 0, family === FAMILY_V4 ? 4 : 16) === true;
    if (this.limiter === null || this.sourceExempt || this.limiter.admit(kind, family, addr, this.clock.now)) {
      return true;
    }
    this.counters.values[C.rateLimited]++;
    return false;
  }

  /**
   * The reply kept for this announce, when its peer already re-announced before `min interval` and this one changes
   * nothing (no event but `started`, the same seeder state, as many peers asked for): the caller sends it instead of
   * calling announce(), and the swarm is not touched. `variant` (0 to 3) tells apart replies of one peer that differ
   * in form (protocol, compact).
   */
  cachedReply(req: AnnounceRequest, family: number, addr: Uint8Array, variant: number): Uint8Array | null {
    const cache = this.repeats;
    if (
      cache === null ||
      cache.size === 0 ||
      this.sourceExempt ||
      (req.event !== EVENT_NONE && req.event !== EVENT_STARTED)
    )
      return null;
    if (this.access !== null && !this.access.allows(req.infoHash, 0)) return null;
    this.setRepeatKey(cache, req, family, addr, variant);
    const entry = cache.find(this.clock.now, this.options.minInterval);
    if (entry < 0) return null;
    // A peer that left since (stopped, here or at another worker) must announce for real to come back.
    this.catchUp();
    if (!this.store.hasPeer(req.infoHash, 0, family, this.endpoint)) return null;
    this.counters.values[C.repeatsCached]++;
    return cache.reply(entry);
  }

  /** After announce(): keeps the reply encoded in `bytes[from, to)` when its peer re-announced early. */
  keepReply(
    req: AnnounceRequest,
    family: number,
    addr: Uint8Array,
    variant: number,
    bytes: Uint8Array,
    from: number,
    to: number,
  ) {
    const cache = this.repeats;
    if (cache === null || !this.repeated || this.sourceExempt) return;
    this.setRepeatKey(cache, req, family, addr, variant);
    cache.keep(this.clock.now, this.options.minInterval, bytes, from, to);
  }

  private setRepeatKey(cache: ReplyCache, req: AnnounceRequest, family: number, addr: Uint8Array, variant: number) {
    const length = this.writeEndpoint(family, addr, req.port);
    // The form (2 bits), the seeder state, and how many peers were asked for (at most 5,000: 13 bits).
    const key = (((variant << 1) | (req.left === 0 ? 1 : 0)) << 13) | this.wanted(req.numwant);
    cache.setKey(req.infoHash, 0, this.endpoint, length, key);
  }

  /** The peer's compact endpoint (address then port) into `this.endpoint`; returns its length. */
  private writeEndpoint(family: number, addr: Uint8Array, port: number): number {
    const addrLength = family === FAMILY_V4 ? 4 : 16;
    const endpoint = this.endpoint;
    for (let k = 0; k < addrLength; k++) endpoint[k] = addr[k];
    endpoint[addrLength] = port >> 8;
    endpoint[addrLength + 1] = port & 0xff;
    return addrLength + 2;
  }

  /** The peers-per-reply a request gets: its numwant, else the default, never above the cap. */
  wanted(numwant: number): number {
    if (numwant < 0) return Math.min(this.options.defaultNumwant, this.options.maxPeers);
    return Math.min(numwant, this.options.maxPeers);
  }

  /**
   * Handles an announce from a client whose address is `addr` (4 bytes for FAMILY_V4, 16 for FAMILY_V6). The peer is
   * that address with the port the announce gives (the caller decides which address that is). `maxWant` caps the
   * peers further (UDP over IPv6 keeps its datagram small). Fills and returns `this.reply`, or null (with the reason
   * in `refusal`) when the access rules refuse the torrent, or it is new and a cap or the memory budget is reached.
   * A new peer past a cap is not stored but still gets its reply.
   */
  announce(
    req: AnnounceRequest,
    family: number,
    addr: Uint8Array,
    which: number,
    maxWant: number,
  ): AnnounceReply | null {
    if (this.access !== null && !this.access.allows(req.infoHash, 0)) {
      this.counters.values[C.refused]++;
      this.refusal = REFUSED_REASON;
      return null;
    }
    this.catchUp();
    const store = this.store;
    const { maxTorrents = 0, maxPeersPerTorrent = 0 } = this.options;
    const full = !this.admitting || (maxTorrents > 0 && store.torrents >= maxTorrents);
    if (full && req.event !== EVENT_STOPPED && store.find(req.infoHash, 0) < 0) {
      this.counters.values[C.capRefused]++;
      this.refusal = FULL_REASON;
      return null;
    }
    const peerCap = !this.admitting ? 0 : maxPeersPerTorrent > 0 ? maxPeersPerTorrent : Number.POSITIVE_INFINITY;
    const now = this.clock.now;
    const r = this.reply;
    const peers = r.peers;
    peers.v4.count = peers.v4.runCount = 0;
    peers.v6.count = peers.v6.runCount = 0;
    const endpoint = this.endpoint;
    const addrLength = this.writeEndpoint(family, addr, req.port) - 2;
    for (let k = 0; k < addrLength; k++) r.externalIp[k] = addr[k];
    r.externalIpLength = addrLength;
    this.repeated = false;
    r.interval = this.jitteredInterval();

    let tid: number;
    if (req.event === EVENT_STOPPED) {
      tid = store.stop(req.infoHash, family, endpoint, now);
      this.deltas?.stop(req.infoHash, family, endpoint);
    } else {
      const seeder = req.left === 0;
      const partial = req.event === EVENT_PAUSED;
      const completed = req.event === EVENT_COMPLETED;
      const outcome = store.announce(req.infoHash, family, endpoint, seeder, partial, completed, now, peerCap);
      if (!outcome.stored) this.counters.values[C.capRefused]++;
      if (outcome.completed) this.counters.values[C.completed]++;
      if (outcome.renewAge >= 0) this.counters.renew(outcome.renewAge);
      this.repeated = outcome.renewAge >= 0 && outcome.renewAge < this.options.minInterval;
      if (outcome.publish) this.deltas?.announce(req.infoHash, family, endpoint, seeder, partial, completed);
      tid = outcome.torrent;
      const uploadOnly = seeder || req.event === EVENT_PAUSED;
      this.selectPeers(tid, family, outcome.slot, uploadOnly, Math.min(this.wanted(req.numwant), maxWant), which);
    }
    if (tid < 0) {
      r.complete = 0;
      r.incomplete = 0;
      r.downloaded = 0;
    } else {
      r.complete = store.complete(tid);
      r.incomplete = store.incomplete(tid);
      r.downloaded = store.downloaded(tid);
    }
    return r;
  }

  /**
   * Fills `entry` with the figures of the torrent `hashes[off…off+20]`; an unknown torrent reads as zeros. Returns
   * false (and zeros) for a torrent the access rules refuse.
   */
  scrape(hashes: Uint8Array, off: number, entry: ScrapeEntry): boolean {
    const allowed = this.access === null || this.access.allows(hashes, off);
    this.catchUp();
    const store = this.store;
    const tid = allowed ? store.lookup(hashes, off, this.clock.now) : -1;
    if (tid < 0) {
      entry.complete = entry.incomplete = entry.downloaded = entry.downloaders = 0;
      return allowed;
    }
    entry.complete = store.complete(tid);
    entry.incomplete = store.incomplete(tid);
    entry.downloaded = store.downloaded(tid);
    entry.downloaders = store.downloaders(tid);
    return true;
  }

  /**
   * Applies what the other workers published so far. A worker publishes a change before it answers the request that
   * made it, so a request that follows an answered one sees its effect, whichever worker each one reaches. When
   * nothing is new this is one atomic load per other worker.
   */
  catchUp(): void {
    for (const r of this.replicas) r.drain(this.store, this.clock.now);
  }

  /** The announce interval, spread ±10 % so that clients started together do not stay in lockstep. */
  jitteredInterval(): number {
    const { interval, minInterval } = this.options;
    const spread = Math.floor(interval / 10);
    return Math.max(minInterval, interval - spread + randomBelow(2 * spread + 1));
  }

  /**
   * Peers of `f` that may go to the requester: downloaders only for an upload-only requester, never itself (`self`,
   * its slot, is -1 when a cap kept it out of the swarm).
   */
  private candidates(tid: number, f: number, family: number, self: number, uploadOnly: boolean): number {
    const pool = this.store.pools[f];
    const n = uploadOnly ? pool.downloadersOf(tid) : pool.countOf(tid);
    return f === family && self >= 0 && n > 0 && !uploadOnly ? n - 1 : n;
  }

  private selectPeers(tid: number, family: number, self: number, uploadOnly: boolean, want: number, which: number) {
    const peers = this.reply.peers;
    const [v4, v6] = this.store.pools;
    let want4: number;
    let want6: number;
    if (which === PEERS_OWN_FAMILY) {
      want4 = family === FAMILY_V4 ? want : 0;
      want6 = family === FAMILY_V6 ? want : 0;
    } else {
      // Both families: share `want` in proportion to what each family has, then give any shortfall to the other.
      const a4 = this.candidates(tid, FAMILY_V4, family, self, uploadOnly);
      const a6 = this.candidates(tid, FAMILY_V6, family, self, uploadOnly);
      const total = a4 + a6;
      want4 = total === 0 ? 0 : Math.min(a4, Math.round((want * a4) / total));
      want6 = Math.min(a6, want - want4);
      want4 = Math.min(a4, want - want6);
    }
    // The pools' arrays are replaced when they grow: hand out the current ones.
    peers.v4.endpoints = v4.endpointsBuffer;
    v4.select(tid, uploadOnly, family === FAMILY_V4 ? self : -1, want4, peers.v4);
    peers.v6.endpoints = v6.endpointsBuffer;
    v6.select(tid, uploadOnly, family === FAMILY_V6 ? self : -1, want6, peers.v6);
  }
}
