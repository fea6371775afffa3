// The swarm store: torrents, their peers, counters, selection and expiry. Synchronous, no I/O, no protocols.
//
// A torrent is a small integer id into one array of fixed-size records (torrent-records.ts), which hold its info hash,
// times, counter and both pools' block descriptors; the info hash → id map is an open-addressing table keyed with a
// per-process secret. Peers live in one PeerPool per address family (see peer-pool.ts). A peer is its address and
// port: the same endpoint announcing over HTTP and UDP is one peer.

import { KeyedHasher } from './keyed-hash.ts';
import { EPOCH_SHIFT, FLAG_COMPLETED, FLAG_PARTIAL, PeerPool, STATE_FLAGS } from './peer-pool.ts';
import { R_DOWNLOADED, R_HASH, R_LAST_ACTIVE, R_LAST_SWEPT, RECORD_POOL, RECORD_WORDS } from './torrent-records.ts';
import { discard, grow } from './typed-array.ts';

export const FAMILY_V4 = 0;
export const FAMILY_V6 = 1;
export const ENDPOINT_SIZE = [6, 18] as const;
export const HASH_SIZE = 20;
/** An info hash in a record: five 32-bit words, each of four bytes of the hash, the first byte lowest. */
const HASH_WORDS = HASH_SIZE / 4;

/** The four bytes of `src` from `at` as one word, the first byte lowest (as records hold info hashes). */
function wordAt(src: Uint8Array, at: number): number {
  return src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24);
}

const EMPTY = -1;
const MIN_TABLE = 1024;

export interface StoreOptions {
  /** Seconds without an announce after which a peer is dropped. */
  peerTtl: number;
  /**
   * Seconds a torrent without peers is kept after its last announce when it has a `downloaded` count, so the count
   * survives a quiet spell (opentracker keeps such torrents 24 h). A torrent that never completed goes with its last
   * peer. Default: 86400.
   */
  torrentTtl?: number;
}

/** What announce() reports; one reused object. */
export interface AnnounceOutcome {
  torrent: number;
  /** The requester's slot in its family's pool, to leave it out of its own peer list. */
  slot: number;
  /**
   * Other copies of the swarm (workers, cluster nodes) need to hear of this announce: the peer is new, changed state,
   * completed, or has not been published in the current epoch (peerTtl / 8 seconds). Re-announces inside an epoch
   * change nothing but the time, and a copy that hears of a peer once an epoch keeps it for at least 7/8 of the TTL.
   */
  publish: boolean;
  /** Seconds since the peer's previous announce; -1 for a new peer. */
  renewAge: number;
  /** This announce counted a completed download. */
  completed: boolean;
  /** The peer is in the swarm; false when it was new and the torrent already held `peerCap` peers. */
  stored: boolean;
}

export class SwarmStore {
  readonly pools: readonly [PeerPool, PeerPool];
  private readonly hasher = new KeyedHasher();
  private readonly peerTtl: number;
  private readonly torrentTtl: number;
  /** How stale a torrent's last sweep may be before touching it sweeps it again. */
  readonly sweepEvery: number;

  /** Per-torrent records, RECORD_WORDS words per torrent id (torrent-records.ts), shared with the pools. */
  private records: Int32Array;
  /** The info hash looked for by find(), as the words a record holds it in. */
  private readonly wanted = new Int32Array(HASH_WORDS);
  private alive: Uint8Array;
  private capacity: number;
  private readonly freeIds: number[] = [];
  private nextId = 0;
  /** Live torrents. */
  torrents = 0;

  // info hash → torrent id.
  private table: Int32Array;
  private tableMask: number;

  private sweepCursor = 0;
  private readonly outcome: AnnounceOutcome = {
    torrent: -1,
    slot: -1,
    publish: false,
    renewAge: -1,
    completed: false,
    stored: true,
  };
  private readonly publishEvery: number;

  constructor(options: StoreOptions, capacity = 1024) {
    this.peerTtl = options.peerTtl;
    this.torrentTtl = options.torrentTtl ?? 86400;
    this.sweepEvery = Math.max(1, Math.min(60, Math.floor(options.peerTtl / 4)));
    this.publishEvery = Math.max(1, Math.floor(options.peerTtl / 8));
    this.capacity = capacity;
    this.records = new Int32Array(capacity * RECORD_WORDS);
    this.alive = new Uint8Array(capacity);
    this.table = new Int32Array(MIN_TABLE).fill(EMPTY);
    this.tableMask = MIN_TABLE - 1;
    this.pools = [
      new PeerPool(6, this.hasher, this.records, RECORD_POOL[0]),
      new PeerPool(18, this.hasher, this.records, RECORD_POOL[1]),
    ];
  }

  /** Peers stored, both families. */
  get peers(): number {
    return this.pools[0].size + this.pools[1].size;
  }

  /** The torrent id of `hash[off…off+20]`, or -1. */
  find(hash: Uint8Array, off: number): number {
    const wanted = this.wanted;
    for (let k = 0; k < HASH_WORDS; k++) wanted[k] = wordAt(hash, off + 4 * k);
    const mask = this.tableMask;
    let i = this.hasher.hashWords(wanted, 0, HASH_WORDS, 0) & mask;
    for (;;) {
      const id = this.table[i];
      if (id === EMPTY) return -1;
      if (this.hashEquals(id, wanted)) return id;
      i = (i + 1) & mask;
    }
  }

  /** Whether the torrent `hash[off…off+20]` holds the peer at `endpoint` (6 or 18 compact bytes by `family`). */
  hasPeer(hash: Uint8Array, off: number, family: number, endpoint: Uint8Array): boolean {
    const tid = this.find(hash, off);
    return tid >= 0 && this.pools[family].find(tid, endpoint, 0) >= 0;
  }

  /**
   * Records an announce from the peer at `endpoint` (6 or 18 compact bytes by `family`).
   * `seeder`: left is 0. `partial`: a BEP 21 partial seed. `completed`: the announce carried event=completed, which
   * counts once per peer and only from a seeder. A new peer joins only a torrent holding fewer than `peerCap` peers
   * (both families); otherwise the outcome says it was not stored, and nothing changes but the torrent's activity.
   */
  announce(
    hash: Uint8Array,
    family: number,
    endpoint: Uint8Array,
    seeder: boolean,
    partial: boolean,
    completed: boolean,
    now: number,
    peerCap = Number.POSITIVE_INFINITY,
  ): AnnounceOutcome {
    let tid = this.find(hash, 0);
    if (tid < 0) tid = this.create(hash, now);
    else this.maybeSweep(tid, now);
    this.records[tid * RECORD_WORDS + R_LAST_ACTIVE] = now;
    const pool = this.pools[family];
    const uploadOnly = seeder || partial;
    const isPartial = partial && !seeder;
    let slot = pool.find(tid, endpoint, 0);
    let publish: boolean;
    let renewAge = -1;
    const outcome = this.outcome;
    outcome.torrent = tid;
    outcome.stored = true;
    if (slot < 0 && this.pools[0].countOf(tid) + this.pools[1].countOf(tid) >= peerCap) {
      outcome.slot = -1;
      outcome.publish = false;
      outcome.renewAge = -1;
      outcome.completed = false;
      outcome.stored = false;
      return outcome;
    }
    if (slot < 0) {
      slot = pool.insert(tid, endpoint, 0, uploadOnly, isPartial, now);
      publish = true;
    } else {
      renewAge = pool.foundAge(now);
      const wasUploadOnly = slot - pool.blockStartOf(tid) >= pool.downloadersOf(tid);
      const wasPartial = (pool.foundFlags & FLAG_PARTIAL) !== 0;
      slot = pool.update(tid, slot, uploadOnly, isPartial, now);
      publish = wasUploadOnly !== uploadOnly || wasPartial !== isPartial;
    }
    const countsCompleted = completed && seeder && (pool.flags[slot] & FLAG_COMPLETED) === 0;
    if (countsCompleted) {
      pool.flags[slot] |= FLAG_COMPLETED;
      this.records[tid * RECORD_WORDS + R_DOWNLOADED]++;
      publish = true;
    }
    // Six bits of epoch wrap after 8 TTLs, by when a peer not heard of has long expired.
    const epoch = Math.floor(now / this.publishEvery) & 0x3f;
    const flags = pool.flags[slot];
    if (flags >> EPOCH_SHIFT !== epoch) {
      pool.flags[slot] = (flags & STATE_FLAGS) | (epoch << EPOCH_SHIFT);
      publish = true;
    }
    outcome.slot = slot;
    outcome.publish = publish;
    outcome.renewAge = renewAge;
    outcome.completed = countsCompleted;
    return outcome;
  }

  /**
   * Restores a torrent from saved state (a statedump or swarmd's state file): creates it if absent, and sets its
   * `downloaded` count and when it was last active (clock seconds; may be before the clock's origin). Returns its id.
   */
  restoreTorrent(hash: Uint8Array, off: number, downloaded: number, lastActive: number, now: number): number {
    let tid = this.find(hash, off);
    if (tid < 0) tid = this.create(hash.subarray(off, off + HASH_SIZE), now);
    this.records[tid * RECORD_WORDS + R_DOWNLOADED] = downloaded;
    this.records[tid * RECORD_WORDS + R_LAST_ACTIVE] = lastActive;
    return tid;
  }

  /**
   * Restores a peer of torrent `tid` from saved state, as last seen at `lastSeen` (clock seconds, at most the TTL
   * ago). `completed`: its completed event was counted already (the torrent's count is restored separately).
   */
  restorePeer(
    tid: number,
    family: number,
    endpoint: Uint8Array,
    off: number,
    seeder: boolean,
    partial: boolean,
    completed: boolean,
    lastSeen: number,
  ): void {
    const pool = this.pools[family];
    if (pool.find(tid, endpoint, off) >= 0) return;
    const isPartial = partial && !seeder;
    const slot = pool.insert(tid, endpoint, off, seeder || isPartial, isPartial, lastSeen);
    if (completed) pool.flags[slot] |= FLAG_COMPLETED;
  }

  /** When torrent `tid` last had an announce: clock seconds (negative: before the clock's origin). */
  lastActive(tid: number): number {
    return this.records[tid * RECORD_WORDS + R_LAST_ACTIVE];
  }

  /** Removes the peer at `endpoint` from the torrent (event=stopped); returns the torrent id or -1 if it is gone. */
  stop(hash: Uint8Array, family: number, endpoint: Uint8Array, now: number): number {
    const tid = this.find(hash, 0);
    if (tid < 0) return -1;
    const pool = this.pools[family];
    const slot = pool.find(tid, endpoint, 0);
    if (slot >= 0) pool.remove(tid, slot);
    this.maybeSweep(tid, now);
    return this.dropIfEmpty(tid, now) ? -1 : tid;
  }

  /** Looks a torrent up for a scrape, sweeping it if due; -1 when unknown. Never creates one. */
  lookup(hash: Uint8Array, off: number, now: number): number {
    const tid = this.find(hash, off);
    if (tid < 0) return -1;
    this.maybeSweep(tid, now);
    return this.dropIfEmpty(tid, now) ? -1 : tid;
  }

  /** Seeders (left = 0), both families. */
  complete(tid: number): number {
    const [a, b] = this.pools;
    return (
      a.countOf(tid) -
      a.downloadersOf(tid) -
      a.partialsOf(tid) +
      b.countOf(tid) -
      b.downloadersOf(tid) -
      b.partialsOf(tid)
    );
  }

  /** Everyone else: downloaders and partial seeds. */
  incomplete(tid: number): number {
    const [a, b] = this.pools;
    return a.downloadersOf(tid) + a.partialsOf(tid) + b.downloadersOf(tid) + b.partialsOf(tid);
  }

  /** BEP 21: active downloaders, partial seeds left out. */
  downloaders(tid: number): number {
    return this.pools[0].downloadersOf(tid) + this.pools[1].downloadersOf(tid);
  }

  /** Completed events counted. */
  downloaded(tid: number): number {
    return this.records[tid * RECORD_WORDS + R_DOWNLOADED] >>> 0;
  }

  /** Copies torrent `tid`'s info hash to `dst` at `off`. */
  copyHash(tid: number, dst: Uint8Array, off: number): void {
    for (let k = 0; k < HASH_WORDS; k++) {
      const w = this.records[tid * RECORD_WORDS + R_HASH + k];
      const at = off + 4 * k;
      dst[at] = w;
      dst[at + 1] = w >> 8;
      dst[at + 2] = w >> 16;
      dst[at + 3] = w >> 24;
    }
  }

  /** True while `tid` names a live torrent (ids are reused after a torrent is dropped). */
  isAlive(tid: number): boolean {
    return tid < this.nextId && this.alive[tid] === 1;
  }

  /** One past the highest torrent id ever handed out: iterate [0, idLimit) with isAlive(). */
  get idLimit(): number {
    return this.nextId;
  }

  /**
   * Background expiry: sweeps the next `budget` torrent ids whose last sweep is due, wrapping around.
   * Called on a timer so that idle torrents lose their peers and disappear without being touched.
   */
  sweepSome(now: number, budget: number): void {
    for (let k = 0; k < budget && this.nextId > 0; k++) {
      if (this.sweepCursor >= this.nextId) this.sweepCursor = 0;
      const tid = this.sweepCursor++;
      if (this.alive[tid] === 1) {
        this.maybeSweep(tid, now);
        this.dropIfEmpty(tid, now);
      }
    }
  }

  private maybeSweep(tid: number, now: number): void {
    const at = tid * RECORD_WORDS + R_LAST_SWEPT;
    if (now - this.records[at] < this.sweepEvery) return;
    this.records[at] = now;
    this.pools[0].expire(tid, now, this.peerTtl);
    this.pools[1].expire(tid, now, this.peerTtl);
  }

  private dropIfEmpty(tid: number, now: number): boolean {
    if (this.pools[0].countOf(tid) !== 0 || this.pools[1].countOf(tid) !== 0) return false;
    const at = tid * RECORD_WORDS;
    if (this.records[at + R_DOWNLOADED] !== 0 && now - this.records[at + R_LAST_ACTIVE] < this.torrentTtl) return false;
    this.tableDelete(tid);
    this.alive[tid] = 0;
    this.records[at + R_DOWNLOADED] = 0;
    this.freeIds.push(tid);
    this.torrents--;
    return true;
  }

  private create(hash: Uint8Array, now: number): number {
    let tid = this.freeIds.pop();
    if (tid === undefined) {
      if (this.nextId === this.capacity) this.grow();
      tid = this.nextId++;
    }
    const at = tid * RECORD_WORDS;
    for (let k = 0; k < HASH_WORDS; k++) this.records[at + R_HASH + k] = wordAt(hash, 4 * k);
    this.alive[tid] = 1;
    this.records[at + R_DOWNLOADED] = 0;
    this.records[at + R_LAST_SWEPT] = now;
    this.records[at + R_LAST_ACTIVE] = now;
    this.torrents++;
    this.tableAdd(tid);
    return tid;
  }

  private grow(): void {
    // By half, as the peer arrays grow: doubling would leave up to half of every per-torrent array unused.
    const capacity = Math.ceil(this.capacity * 1.5);
    this.records = grow(this.records, capacity * RECORD_WORDS);
    this.alive = grow(this.alive, capacity);
    this.pools[0].attachRecords(this.records);
    this.pools[1].attachRecords(this.records);
    this.capacity = capacity;
  }

  private hashEquals(tid: number, wanted: Int32Array): boolean {
    const at = tid * RECORD_WORDS;
    for (let k = 0; k < HASH_WORDS; k++) if (this.records[at + R_HASH + k] !== wanted[k]) return false;
    return true;
  }

  private homeOf(tid: number): number {
    return this.hasher.hashWords(this.records, tid * RECORD_WORDS + R_HASH, HASH_WORDS, 0) & this.tableMask;
  }

  private tableAdd(tid: number): void {
    if ((this.torrents + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    let i = this.homeOf(tid);
    while (this.table[i] !== EMPTY) i = (i + 1) & this.tableMask;
    this.table[i] = tid;
  }

  /** Backward-shift deletion (see PeerPool.indexDelete). Called while `torrents` still counts `tid`. */
  private tableDelete(tid: number): void {
    const mask = this.tableMask;
    let hole = this.homeOf(tid);
    while (this.table[hole] !== tid) hole = (hole + 1) & mask;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const other = this.table[j];
      if (other === EMPTY) break;
      const home = this.homeOf(other);
      const homeBetween = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeBetween) {
        this.table[hole] = other;
        hole = j;
      }
    }
    this.table[hole] = EMPTY;
    if (this.table.length > MIN_TABLE && this.torrents * 8 < this.table.length) this.rehash(this.table.length / 2);
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size).fill(EMPTY);
    this.tableMask = size - 1;
    for (let k = 0; k < old.length; k++) {
      const tid = old[k];
      if (tid === EMPTY) continue;
      let i = this.homeOf(tid);
      while (this.table[i] !== EMPTY) i = (i + 1) & this.tableMask;
      this.table[i] = tid;
    }
    discard(old);
  }
}
