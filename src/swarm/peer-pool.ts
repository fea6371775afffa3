// The peers of one address family, for every torrent, in a few large typed arrays (struct of arrays).
//
// Each torrent owns one contiguous block of element slots. Block sizes come in classes about a quarter apart (…, 8,
// 10, 12, 14, 16, 20, …), each with its own free list, so blocks are on average ~90 % full; a torrent grows by moving
// to the next class and shrinks when three quarters empty. Inside a block the
// peers are partitioned: [downloaders | upload-only (seeders and BEP 21 partial seeds)]. That makes "never send
// seeders to seeders" a range choice, and a peer list a copy of stored compact bytes.
//
// Inside each part the order is random: a peer joins, or crosses the partition, at a random place of its part (the
// peer there takes the place it came in at). A peer list is then a window of consecutive candidates from a random one,
// which is a random sample of the swarm, not of the peers who joined together, and is copied in at most three runs of
// bytes.
//
// A peer is found by (torrent, endpoint) through one open-addressing index per family that maps to element slots.
// Element slots move (partition swaps, block moves), and every move rewrites the one index entry pointing at it.
// An element stores no owner: a slot belongs to torrent t when it lies inside t's block, and deletions leave
// tombstones (a backward shift would need every entry's owner), cleared by a rehash that walks the blocks.
//
// Per IPv4 peer that is 9 bytes (6 endpoint, 2 time, 1 flags) plus its share of block slack and the index.

import type { KeyedHasher } from './keyed-hash.ts';
import { randomBelow } from './random.ts';
import { POOL_COUNT, POOL_DOWNLOADERS, POOL_PARTIALS, POOL_START, RECORD_WORDS } from './torrent-records.ts';
import { discard, grow } from './typed-array.ts';

/** Element flags. */
export const FLAG_COMPLETED = 1; // this peer's completed event has been counted
export const FLAG_PARTIAL = 2; // BEP 21 partial seed (announced event=paused)
/** The upper six bits: the store's publish epoch of the peer (see SwarmStore.announce). */
export const EPOCH_SHIFT = 2;
export const STATE_FLAGS = (1 << EPOCH_SHIFT) - 1;

const EMPTY = -1;
const TOMBSTONE = -2;
const NO_BLOCK = -1;
const MIN_INDEX_SIZE = 1024;

/** Block sizes by class: 1, 2, 3, 4, then four steps per power of two (4, 5, 6, 7, 8, 10, 12, 14, 16, 20, …). */
const BLOCK_SIZES: readonly number[] = (() => {
  const sizes = [1, 2, 3];
  for (let p = 4; p <= 2 ** 30; p *= 2) sizes.push(p, p + p / 4, p + p / 2, p + (3 * p) / 4);
  return sizes;
})();

/**
 * A selection of peers: `runCount` runs of consecutive slots, run r being the `runs[2r + 1]` slots from `runs[2r]`;
 * `count` peers in all.
 */
export interface PeerRuns {
  runs: Int32Array;
  runCount: number;
  count: number;
}

/** The most runs select() writes: a window that wraps around and is split by the requester's own slot. */
export const MAX_RUNS = 3;

/**
 * Seconds from `seen` (a lastSeen: the clock modulo 2^16) to `now`, for ages below 2^16 s (the store sweeps far more
 * often).
 */
function secondsSince(seen: number, now: number): number {
  return (now - seen) & 0xffff;
}

export class PeerPool {
  /** Compact endpoint size: 6 (IPv4 + port) or 18 (IPv6 + port). */
  readonly stride: number;
  private readonly hasher: KeyedHasher;

  // Element arrays, indexed by slot.
  endpoints: Uint8Array;
  /** A Buffer over `endpoints` (replaced with it), whose copy() takes a range and allocates nothing. */
  endpointsBuffer: Buffer;
  /** When the peer last announced: the store's clock in seconds, modulo 2^16 (see `age`). */
  lastSeen: Uint16Array;
  flags: Uint8Array;
  private capacity: number;
  private top = 0;
  private readonly freeBlocks: number[][] = [];

  // Per-torrent block descriptors: four numbers in each torrent's record (see torrent-records.ts), from word
  // `recordBase`; the block's size class, read only when a block is resized, has its own array.
  private records: Int32Array = new Int32Array(0);
  private readonly recordBase: number;
  private blockClass = new Int8Array(0);

  // (torrent, endpoint) → slot.
  private index: Int32Array;
  private indexMask: number;
  private indexUsed = 0;
  private indexTombstones = 0;

  private readonly scratch: Uint8Array;
  /** The lastSeen of the peer the last find() found (see foundAge). */
  private foundSeen = 0;
  /** The flags of the peer the last find() found, as they were then. */
  foundFlags = 0;
  /** Total peers stored. */
  size = 0;

  constructor(stride: number, hasher: KeyedHasher, records: Int32Array, recordBase: number, capacity = 1024) {
    this.stride = stride;
    this.hasher = hasher;
    this.capacity = capacity;
    this.endpoints = new Uint8Array(capacity * stride);
    this.endpointsBuffer = Buffer.from(this.endpoints.buffer);
    this.lastSeen = new Uint16Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.recordBase = recordBase;
    this.attachRecords(records);
    this.index = new Int32Array(MIN_INDEX_SIZE).fill(EMPTY);
    this.indexMask = MIN_INDEX_SIZE - 1;
    this.scratch = new Uint8Array(stride);
  }

  /**
   * Takes the store's records, new or grown (the old ones copied in): the torrents past those it knew get no block.
   */
  attachRecords(records: Int32Array): void {
    const known = this.blockClass.length;
    const capacity = records.length / RECORD_WORDS;
    for (let tid = known; tid < capacity; tid++) records[this.at(tid) + POOL_START] = NO_BLOCK;
    this.records = records;
    this.blockClass = grow(this.blockClass, capacity, NO_BLOCK);
  }

  /** Where torrent `tid`'s block descriptor begins in `records`. */
  private at(tid: number): number {
    return tid * RECORD_WORDS + this.recordBase;
  }

  /** The first slot of torrent `tid`'s block (NO_BLOCK, -1, when it has none). */
  blockStartOf(tid: number): number {
    return this.records[this.at(tid) + POOL_START];
  }

  /** Peers of torrent `tid`. */
  countOf(tid: number): number {
    return this.records[this.at(tid) + POOL_COUNT];
  }

  /** Downloaders of torrent `tid`: the first slots of its block. */
  downloadersOf(tid: number): number {
    return this.records[this.at(tid) + POOL_DOWNLOADERS];
  }

  /** Partial seeds of torrent `tid`, inside the upload-only part. */
  partialsOf(tid: number): number {
    return this.records[this.at(tid) + POOL_PARTIALS];
  }

  /**
   * The slot of the peer with endpoint `ep[epOff…]` in torrent `tid`, or -1. When found, foundAge() and `foundFlags`
   * give its time and flags: read here, before the endpoints are compared, so that the three cache misses (separate
   * arrays) overlap instead of following one another.
   */
  find(tid: number, ep: Uint8Array, epOff: number): number {
    const at = this.at(tid);
    const mask = this.indexMask;
    let i = this.hasher.hashBytes(ep, epOff, this.stride, tid) & mask;
    const start = this.records[at + POOL_START];
    const n = this.records[at + POOL_COUNT];
    for (;;) {
      const slot = this.index[i];
      if (slot === EMPTY) return -1;
      // Tombstones (negative) and other torrents' slots fall outside [start, start + n).
      if (slot - start >= 0 && slot - start < n) {
        this.foundSeen = this.lastSeen[slot];
        this.foundFlags = this.flags[slot];
        if (this.endpointEquals(slot, ep, epOff)) return slot;
      }
      i = (i + 1) & mask;
    }
  }

  /** Adds a peer (which must not be present) and returns its slot. */
  insert(tid: number, ep: Uint8Array, epOff: number, uploadOnly: boolean, partial: boolean, now: number): number {
    const at = this.at(tid);
    this.fitIndex();
    const n = this.records[at + POOL_COUNT];
    if (this.records[at + POOL_START] === NO_BLOCK || n === BLOCK_SIZES[this.blockClass[tid]]) this.resize(tid, n + 1);
    const start = this.records[at + POOL_START];
    let slot = start + n;
    if (!uploadOnly) {
      const d = this.records[at + POOL_DOWNLOADERS];
      // Make room at the end of the downloader part by moving the first upload-only peer to the end.
      if (d < n) this.move(tid, start + d, slot);
      slot = start + d;
      this.records[at + POOL_DOWNLOADERS] = d + 1;
    }
    this.records[at + POOL_COUNT] = n + 1;
    this.size++;
    const s = this.stride;
    for (let b = 0; b < s; b++) this.endpoints[slot * s + b] = ep[epOff + b];
    this.lastSeen[slot] = now;
    this.flags[slot] = partial ? FLAG_PARTIAL : 0;
    if (partial) this.records[at + POOL_PARTIALS]++;
    this.indexAdd(tid, slot);
    return this.shuffleIn(tid, slot);
  }

  /**
   * Swaps a peer that just came to an end of its part (`slot`: the last or the first) with a random peer of that
   * part, itself included: a step of an inside-out shuffle, which keeps each part in random order however peers come
   * and go. Returns the peer's new slot.
   */
  private shuffleIn(tid: number, slot: number): number {
    const at = this.at(tid);
    const start = this.records[at + POOL_START];
    const d = this.records[at + POOL_DOWNLOADERS];
    const isDownloader = slot - start < d;
    const first = isDownloader ? start : start + d;
    const other = first + randomBelow(isDownloader ? d : this.records[at + POOL_COUNT] - d);
    this.swap(tid, slot, other);
    return other;
  }

  /** Records a re-announce: refreshes its time, moves the peer between downloaders and upload-only. */
  update(tid: number, slot: number, uploadOnly: boolean, partial: boolean, now: number): number {
    const at = this.at(tid);
    this.lastSeen[slot] = now;
    const wasPartial = (this.flags[slot] & FLAG_PARTIAL) !== 0;
    if (wasPartial !== partial) {
      this.flags[slot] ^= FLAG_PARTIAL;
      this.records[at + POOL_PARTIALS] += partial ? 1 : -1;
    }
    const start = this.records[at + POOL_START];
    const d = this.records[at + POOL_DOWNLOADERS];
    const isDownloader = slot - start < d;
    if (uploadOnly && isDownloader) {
      // To the boundary, which becomes the first upload-only slot, then to a random place among the upload-only.
      this.swap(tid, slot, start + d - 1);
      this.records[at + POOL_DOWNLOADERS] = d - 1;
      return this.shuffleIn(tid, start + d - 1);
    }
    if (!uploadOnly && !isDownloader) {
      // To the boundary, which becomes the last downloader slot, then to a random place among the downloaders.
      this.swap(tid, slot, start + d);
      this.records[at + POOL_DOWNLOADERS] = d + 1;
      return this.shuffleIn(tid, start + d);
    }
    return slot;
  }

  /** Removes the peer in `slot` of torrent `tid`. */
  remove(tid: number, slot: number): void {
    const at = this.at(tid);
    this.indexDelete(tid, slot);
    if (this.flags[slot] & FLAG_PARTIAL) this.records[at + POOL_PARTIALS]--;
    const start = this.records[at + POOL_START];
    const last = start + this.records[at + POOL_COUNT] - 1;
    const d = this.records[at + POOL_DOWNLOADERS];
    if (slot - start < d) {
      // Fill the hole with the last downloader, and that one's place with the last upload-only peer.
      const lastDownloader = start + d - 1;
      if (slot !== lastDownloader) this.move(tid, lastDownloader, slot);
      if (lastDownloader !== last) this.move(tid, last, lastDownloader);
      this.records[at + POOL_DOWNLOADERS] = d - 1;
    } else if (slot !== last) {
      this.move(tid, last, slot);
    }
    const n = this.records[at + POOL_COUNT] - 1;
    this.records[at + POOL_COUNT] = n;
    this.size--;
    // Shrink when three quarters empty, to a block twice the size needed, so add/remove at the edge does not thrash.
    if (n === 0) this.freeBlock(tid);
    else if (n * 4 <= BLOCK_SIZES[this.blockClass[tid]]) this.resize(tid, n * 2);
    this.fitIndex();
  }

  /** Seconds since the peer in `slot` last announced. */
  age(slot: number, now: number): number {
    return secondsSince(this.lastSeen[slot], now);
  }

  /** age() of the peer the last find() found, from the time find() read. */
  foundAge(now: number): number {
    return secondsSince(this.foundSeen, now);
  }

  /** Removes every peer of `tid` not seen for more than `ttl` seconds; returns how many were removed. */
  expire(tid: number, now: number, ttl: number): number {
    const at = this.at(tid);
    let removed = 0;
    // Backwards: a removal only moves peers from higher slots, which were already checked.
    for (let i = this.records[at + POOL_COUNT] - 1; i >= 0; i--) {
      const slot = this.records[at + POOL_START] + i;
      if (this.age(slot, now) > ttl) {
        this.remove(tid, slot);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Picks up to `want` distinct peers of `tid` at random into `out`: never `exclude` (the requester's slot, or -1),
   * and only downloaders when `downloadersOnly`. The candidates are in random order (see shuffleIn), so a window of
   * them from a random one, wrapping around, is a random sample, and each candidate is as likely as any other; it is
   * at most MAX_RUNS runs of slots, copied as such. One random draw per reply and a memory copy per run: far fewer
   * cache lines touched than by peers picked one by one all over the block.
   */
  select(tid: number, downloadersOnly: boolean, exclude: number, want: number, out: PeerRuns): void {
    const at = this.at(tid);
    out.runCount = 0;
    out.count = 0;
    const start = this.records[at + POOL_START];
    if (start === NO_BLOCK || want <= 0) return;
    const range = downloadersOnly ? this.records[at + POOL_DOWNLOADERS] : this.records[at + POOL_COUNT];
    const skip = exclude - start; // position to leave out, if inside the range
    // Candidate c is at position c below the requester's and c + 1 from it on.
    const skipAt = skip >= 0 && skip < range ? skip : range;
    const available = skipAt < range ? range - 1 : range;
    if (available <= 0) return;
    const n = Math.min(want, available);
    const first = n === available ? 0 : randomBelow(available);
    const end = first + n;
    this.addCandidates(out, start, skipAt, first, Math.min(end, available));
    if (end > available) this.addCandidates(out, start, skipAt, 0, end - available);
    out.count = n;
  }

  /** Adds candidates [from, to) of the block at `start` to `out` as one run, or two around the requester's slot. */
  private addCandidates(out: PeerRuns, start: number, skipAt: number, from: number, to: number): void {
    if (to <= skipAt) this.addRun(out, start + from, to - from);
    else if (from >= skipAt) this.addRun(out, start + from + 1, to - from);
    else {
      this.addRun(out, start + from, skipAt - from);
      this.addRun(out, start + skipAt + 1, to - skipAt);
    }
  }

  private addRun(out: PeerRuns, slot: number, length: number): void {
    if (length === 0) return;
    const r = out.runCount++;
    out.runs[2 * r] = slot;
    out.runs[2 * r + 1] = length;
  }

  private endpointEquals(slot: number, ep: Uint8Array, epOff: number): boolean {
    const s = this.stride;
    const at = slot * s;
    for (let b = 0; b < s; b++) if (this.endpoints[at + b] !== ep[epOff + b]) return false;
    return true;
  }

  /** The index home of the peer in `slot` of torrent `tid`. */
  private homeOf(tid: number, slot: number): number {
    return this.hasher.hashBytes(this.endpoints, slot * this.stride, this.stride, tid) & this.indexMask;
  }

  /** The index position that points at `slot` of torrent `tid`. */
  private indexPositionOf(tid: number, slot: number): number {
    const mask = this.indexMask;
    let i = this.homeOf(tid, slot);
    while (this.index[i] !== slot) i = (i + 1) & mask;
    return i;
  }

  /**
   * Keeps the index at most three quarters full of live and dead entries, so probe chains stay short, and at least
   * an eighth live. Called only while every block is consistent, since a rehash reads the blocks.
   */
  private fitIndex(): void {
    const length = this.index.length;
    if ((this.indexUsed + this.indexTombstones + 1) * 4 > length * 3) {
      this.rehash(this.indexUsed * 2 + 2 > length ? length * 2 : length);
    } else if (length > MIN_INDEX_SIZE && this.indexUsed * 8 < length) {
      this.rehash(length / 2);
    }
  }

  private indexAdd(tid: number, slot: number): void {
    const mask = this.indexMask;
    let i = this.homeOf(tid, slot);
    for (;;) {
      const entry = this.index[i];
      if (entry === EMPTY) break;
      if (entry === TOMBSTONE) {
        this.indexTombstones--;
        break;
      }
      i = (i + 1) & mask;
    }
    this.index[i] = slot;
    this.indexUsed++;
  }

  private indexDelete(tid: number, slot: number): void {
    this.index[this.indexPositionOf(tid, slot)] = TOMBSTONE;
    this.indexUsed--;
    this.indexTombstones++;
  }

  /** Rebuilds the index at `size` entries from the blocks (the index itself does not know each slot's torrent). */
  private rehash(size: number): void {
    discard(this.index);
    this.index = new Int32Array(size).fill(EMPTY);
    this.indexMask = size - 1;
    this.indexTombstones = 0;
    const mask = this.indexMask;
    for (let tid = 0; tid < this.blockClass.length; tid++) {
      const at = this.at(tid);
      const start = this.records[at + POOL_START];
      if (start === NO_BLOCK) continue;
      for (let slot = start; slot < start + this.records[at + POOL_COUNT]; slot++) {
        let i = this.homeOf(tid, slot);
        while (this.index[i] !== EMPTY) i = (i + 1) & mask;
        this.index[i] = slot;
      }
    }
  }

  /** Moves the element in slot `from` of torrent `tid` to the free slot `to`, keeping the index pointing at it. */
  private move(tid: number, from: number, to: number): void {
    const at = this.indexPositionOf(tid, from);
    this.copyElement(from, to);
    this.index[at] = to;
  }

  private swap(tid: number, a: number, b: number): void {
    if (a === b) return;
    const ia = this.indexPositionOf(tid, a);
    const ib = this.indexPositionOf(tid, b);
    const s = this.stride;
    const tmp = this.scratch;
    for (let k = 0; k < s; k++) tmp[k] = this.endpoints[a * s + k];
    const seen = this.lastSeen[a];
    const flags = this.flags[a];
    this.copyElement(b, a);
    this.endpoints.set(tmp, b * s);
    this.lastSeen[b] = seen;
    this.flags[b] = flags;
    this.index[ia] = b;
    this.index[ib] = a;
  }

  private copyElement(from: number, to: number): void {
    const s = this.stride;
    this.endpoints.copyWithin(to * s, from * s, from * s + s);
    this.lastSeen[to] = this.lastSeen[from];
    this.flags[to] = this.flags[from];
  }

  /** Moves torrent `tid` into a block of the smallest class that holds `needed` peers. */
  private resize(tid: number, needed: number): void {
    const at = this.at(tid);
    let cls = 0;
    while (BLOCK_SIZES[cls] < needed) cls++;
    const oldStart = this.records[at + POOL_START];
    const oldClass = this.blockClass[tid];
    if (oldStart !== NO_BLOCK && oldStart + BLOCK_SIZES[oldClass] === this.top && cls > oldClass) {
      // The last block of the arena grows in place.
      this.reserve(oldStart + BLOCK_SIZES[cls]);
      this.top = oldStart + BLOCK_SIZES[cls];
      this.blockClass[tid] = cls;
      return;
    }
    const newStart = this.allocBlock(cls);
    const n = this.records[at + POOL_COUNT];
    for (let i = 0; i < n; i++) this.move(tid, oldStart + i, newStart + i);
    this.records[at + POOL_START] = newStart;
    this.blockClass[tid] = cls;
    if (oldStart !== NO_BLOCK) this.release(oldStart, oldClass);
  }

  private freeBlock(tid: number): void {
    const at = this.at(tid);
    this.release(this.records[at + POOL_START], this.blockClass[tid]);
    this.records[at + POOL_START] = NO_BLOCK;
    this.blockClass[tid] = NO_BLOCK;
    this.records[at + POOL_DOWNLOADERS] = 0;
    this.records[at + POOL_PARTIALS] = 0;
  }

  private allocBlock(cls: number): number {
    while (this.freeBlocks.length <= cls) this.freeBlocks.push([]);
    const reused = this.freeBlocks[cls].pop();
    if (reused !== undefined) return reused;
    const start = this.top;
    this.reserve(start + BLOCK_SIZES[cls]);
    this.top = start + BLOCK_SIZES[cls];
    return start;
  }

  /** Returns a block to its free list, or to the arena when it is the last block. */
  private release(start: number, cls: number): void {
    if (start + BLOCK_SIZES[cls] === this.top) {
      this.top = start;
      return;
    }
    while (this.freeBlocks.length <= cls) this.freeBlocks.push([]);
    this.freeBlocks[cls].push(start);
  }

  /** Makes the element arrays hold at least `needed` slots. */
  private reserve(needed: number): void {
    if (needed <= this.capacity) return;
    // By a quarter: doubling would leave up to half of the largest arrays unused, and the copy is cheap (the buffer
    // is transferred, which reallocates in place when it can).
    const capacity = Math.max(needed, Math.ceil(this.capacity * 1.25));
    this.endpoints = grow(this.endpoints, capacity * this.stride);
    this.endpointsBuffer = Buffer.from(this.endpoints.buffer);
    this.lastSeen = grow(this.lastSeen, capacity);
    this.flags = grow(this.flags, capacity);
    this.capacity = capacity;
  }
}
