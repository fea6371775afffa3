// The peers of one address family, for every torrent, in a few large typed arrays (struct of arrays).
//
// Each torrent owns one contiguous block of element slots; block sizes are powers of two taken from per-size free
// lists, so a torrent grows by moving to the next size and shrinks when three quarters empty. Inside a block the
// peers are partitioned: [downloaders | upload-only (seeders and BEP 21 partial seeds)]. That makes "never send
// seeders to seeders" a range choice, and a peer list a copy of stored compact bytes.
//
// A peer is found by (torrent, endpoint) through one open-addressing index per family that maps to element slots.
// Element slots move (partition swaps, block moves), and every move rewrites the one index entry pointing at it.

import type { KeyedHasher } from './keyed-hash.ts';
import { grow } from './typed-array.ts';

export const PEER_ID_SIZE = 20;
/** Element flags. */
export const FLAG_COMPLETED = 1; // this peer's completed event has been counted
export const FLAG_PARTIAL = 2; // BEP 21 partial seed (announced event=paused)

const EMPTY = -1;
const NO_BLOCK = -1;
const MIN_INDEX_SIZE = 1024;

export class PeerPool {
  /** Compact endpoint size: 6 (IPv4 + port) or 18 (IPv6 + port). */
  readonly stride: number;
  private readonly hasher: KeyedHasher;

  // Element arrays, indexed by slot.
  endpoints: Uint8Array;
  peerIds: Uint8Array;
  lastSeen: Uint32Array;
  flags: Uint8Array;
  private owner: Int32Array;
  private capacity: number;
  private top = 0;
  private readonly freeBlocks: number[][] = [];

  // Per-torrent block descriptors, indexed by torrent id.
  blockStart: Int32Array;
  private blockClass: Int8Array;
  /** Peers in the torrent's block. */
  count: Int32Array;
  /** Downloaders: the first `downloaders` slots of the block. */
  downloaders: Int32Array;
  /** Partial seeds (inside the upload-only part). */
  partials: Int32Array;

  // (torrent, endpoint) → slot.
  private index: Int32Array;
  private indexMask: number;
  private indexUsed = 0;

  private readonly scratch: Uint8Array;
  /** Total peers stored. */
  size = 0;

  constructor(stride: number, hasher: KeyedHasher, torrentCapacity: number, capacity = 1024) {
    this.stride = stride;
    this.hasher = hasher;
    this.capacity = capacity;
    this.endpoints = new Uint8Array(capacity * stride);
    this.peerIds = new Uint8Array(capacity * PEER_ID_SIZE);
    this.lastSeen = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.owner = new Int32Array(capacity);
    this.blockStart = new Int32Array(torrentCapacity).fill(NO_BLOCK);
    this.blockClass = new Int8Array(torrentCapacity).fill(NO_BLOCK);
    this.count = new Int32Array(torrentCapacity);
    this.downloaders = new Int32Array(torrentCapacity);
    this.partials = new Int32Array(torrentCapacity);
    this.index = new Int32Array(MIN_INDEX_SIZE).fill(EMPTY);
    this.indexMask = MIN_INDEX_SIZE - 1;
    this.scratch = new Uint8Array(stride + PEER_ID_SIZE);
  }

  /** Grows the per-torrent descriptors; the store calls this when its torrent table grows. */
  growTorrents(torrentCapacity: number): void {
    this.blockStart = grow(this.blockStart, torrentCapacity, NO_BLOCK);
    this.blockClass = grow(this.blockClass, torrentCapacity, NO_BLOCK);
    this.count = grow(this.count, torrentCapacity);
    this.downloaders = grow(this.downloaders, torrentCapacity);
    this.partials = grow(this.partials, torrentCapacity);
  }

  /** The slot of the peer with endpoint `ep[epOff…]` in torrent `tid`, or -1. */
  find(tid: number, ep: Uint8Array, epOff: number): number {
    const mask = this.indexMask;
    let i = this.hasher.hashBytes(ep, epOff, this.stride, tid) & mask;
    for (;;) {
      const slot = this.index[i];
      if (slot === EMPTY) return -1;
      if (this.owner[slot] === tid && this.endpointEquals(slot, ep, epOff)) return slot;
      i = (i + 1) & mask;
    }
  }

  /** Adds a peer (which must not be present) and returns its slot. */
  insert(
    tid: number,
    ep: Uint8Array,
    epOff: number,
    peerId: Uint8Array,
    uploadOnly: boolean,
    partial: boolean,
    now: number,
  ): number {
    const n = this.count[tid];
    if (this.blockStart[tid] === NO_BLOCK || n === 1 << this.blockClass[tid]) this.resize(tid, n + 1);
    const start = this.blockStart[tid];
    let slot = start + n;
    if (!uploadOnly) {
      const d = this.downloaders[tid];
      // Make room at the end of the downloader part by moving the first upload-only peer to the end.
      if (d < n) this.move(start + d, slot);
      slot = start + d;
      this.downloaders[tid] = d + 1;
    }
    this.count[tid] = n + 1;
    this.size++;
    const s = this.stride;
    this.endpoints.set(ep.subarray(epOff, epOff + s), slot * s);
    this.peerIds.set(peerId.subarray(0, PEER_ID_SIZE), slot * PEER_ID_SIZE);
    this.lastSeen[slot] = now;
    this.flags[slot] = partial ? FLAG_PARTIAL : 0;
    if (partial) this.partials[tid]++;
    this.owner[slot] = tid;
    this.indexAdd(slot);
    return slot;
  }

  /** Records a re-announce: refreshes time and peer id, moves the peer between downloaders and upload-only. */
  update(tid: number, slot: number, peerId: Uint8Array, uploadOnly: boolean, partial: boolean, now: number): number {
    this.lastSeen[slot] = now;
    this.peerIds.set(peerId.subarray(0, PEER_ID_SIZE), slot * PEER_ID_SIZE);
    const wasPartial = (this.flags[slot] & FLAG_PARTIAL) !== 0;
    if (wasPartial !== partial) {
      this.flags[slot] ^= FLAG_PARTIAL;
      this.partials[tid] += partial ? 1 : -1;
    }
    const start = this.blockStart[tid];
    const d = this.downloaders[tid];
    const isDownloader = slot - start < d;
    if (uploadOnly && isDownloader) {
      this.swap(slot, start + d - 1);
      this.downloaders[tid] = d - 1;
      return start + d - 1;
    }
    if (!uploadOnly && !isDownloader) {
      this.swap(slot, start + d);
      this.downloaders[tid] = d + 1;
      return start + d;
    }
    return slot;
  }

  /** Removes the peer in `slot` of torrent `tid`. */
  remove(tid: number, slot: number): void {
    this.indexDelete(slot);
    if (this.flags[slot] & FLAG_PARTIAL) this.partials[tid]--;
    const start = this.blockStart[tid];
    const last = start + this.count[tid] - 1;
    const d = this.downloaders[tid];
    if (slot - start < d) {
      // Fill the hole with the last downloader, and that one's place with the last upload-only peer.
      const lastDownloader = start + d - 1;
      if (slot !== lastDownloader) this.move(lastDownloader, slot);
      if (lastDownloader !== last) this.move(last, lastDownloader);
      this.downloaders[tid] = d - 1;
    } else if (slot !== last) {
      this.move(last, slot);
    }
    const n = this.count[tid] - 1;
    this.count[tid] = n;
    this.size--;
    // Shrink when three quarters empty, to a block twice the size needed, so add/remove at the edge does not thrash.
    const cls = this.blockClass[tid];
    if (n === 0) this.freeBlock(tid);
    else if (cls >= 2 && n <= 1 << (cls - 2)) this.resize(tid, n * 2);
  }

  /** Removes every peer of `tid` last seen before `deadline`; returns how many were removed. */
  expire(tid: number, deadline: number): number {
    let removed = 0;
    // Backwards: a removal only moves peers from higher slots, which were already checked.
    for (let i = this.count[tid] - 1; i >= 0; i--) {
      const slot = this.blockStart[tid] + i;
      if (this.lastSeen[slot] < deadline) {
        this.remove(tid, slot);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Picks up to `want` distinct peers of `tid` at random, never `exclude` (the requester's slot, or -1), and only
   * downloaders when `downloadersOnly`. Writes their slots to `out` from `outOff`; returns how many.
   * Strided sampling: the candidates are split into `want` equal runs and one peer is drawn from each, starting at a
   * random rotation — O(want), no shuffle, no allocation.
   */
  select(
    tid: number,
    downloadersOnly: boolean,
    exclude: number,
    want: number,
    out: Int32Array,
    outOff: number,
  ): number {
    const start = this.blockStart[tid];
    if (start === NO_BLOCK || want <= 0) return 0;
    const range = downloadersOnly ? this.downloaders[tid] : this.count[tid];
    const skip = exclude - start; // position to leave out, if inside the range
    const excluded = skip >= 0 && skip < range;
    const available = excluded ? range - 1 : range;
    if (available <= 0) return 0;
    if (want >= available) {
      let n = 0;
      for (let p = 0; p < range; p++) if (p !== skip) out[outOff + n++] = start + p;
      return n;
    }
    const rotation = Math.floor(Math.random() * available);
    for (let k = 0; k < want; k++) {
      const lo = Math.floor((k * available) / want);
      const hi = Math.floor(((k + 1) * available) / want);
      let p = lo + Math.floor(Math.random() * (hi - lo)) + rotation;
      if (p >= available) p -= available;
      if (excluded && p >= skip) p++;
      out[outOff + k] = start + p;
    }
    return want;
  }

  /** Copies the compact endpoints of `n` slots to `dst` from `dstOff`; returns the offset after them. */
  writeEndpoints(slots: Int32Array, from: number, n: number, dst: Uint8Array, dstOff: number): number {
    const s = this.stride;
    const src = this.endpoints;
    for (let k = from; k < from + n; k++) {
      const at = slots[k] * s;
      for (let b = 0; b < s; b++) dst[dstOff + b] = src[at + b];
      dstOff += s;
    }
    return dstOff;
  }

  private endpointEquals(slot: number, ep: Uint8Array, epOff: number): boolean {
    const s = this.stride;
    const at = slot * s;
    for (let b = 0; b < s; b++) if (this.endpoints[at + b] !== ep[epOff + b]) return false;
    return true;
  }

  private hashOf(slot: number): number {
    return this.hasher.hashBytes(this.endpoints, slot * this.stride, this.stride, this.owner[slot]);
  }

  /** The index position that points at `slot`. */
  private indexPositionOf(slot: number): number {
    const mask = this.indexMask;
    let i = this.hashOf(slot) & mask;
    while (this.index[i] !== slot) i = (i + 1) & mask;
    return i;
  }

  private indexAdd(slot: number): void {
    if ((this.indexUsed + 1) * 2 > this.index.length) this.rehash(this.index.length * 2);
    const mask = this.indexMask;
    let i = this.hashOf(slot) & mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & mask;
    this.index[i] = slot;
    this.indexUsed++;
  }

  /** Linear-probing deletion by backward shift, so no tombstones pile up. */
  private indexDelete(slot: number): void {
    const mask = this.indexMask;
    let hole = this.indexPositionOf(slot);
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const other = this.index[j];
      if (other === EMPTY) break;
      const home = this.hashOf(other) & mask;
      // Move `other` into the hole unless its home lies cyclically in (hole, j].
      const homeBetween = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeBetween) {
        this.index[hole] = other;
        hole = j;
      }
    }
    this.index[hole] = EMPTY;
    this.indexUsed--;
    if (this.index.length > MIN_INDEX_SIZE && this.indexUsed * 8 < this.index.length)
      this.rehash(this.index.length / 2);
  }

  private rehash(size: number): void {
    const old = this.index;
    this.index = new Int32Array(size).fill(EMPTY);
    this.indexMask = size - 1;
    for (let k = 0; k < old.length; k++) {
      const slot = old[k];
      if (slot === EMPTY) continue;
      let i = this.hashOf(slot) & this.indexMask;
      while (this.index[i] !== EMPTY) i = (i + 1) & this.indexMask;
      this.index[i] = slot;
    }
  }

  /** Moves the element in slot `from` to the free slot `to`, keeping the index pointing at it. */
  private move(from: number, to: number): void {
    const at = this.indexPositionOf(from);
    this.copyElement(from, to);
    this.index[at] = to;
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const ia = this.indexPositionOf(a);
    const ib = this.indexPositionOf(b);
    const s = this.stride;
    const tmp = this.scratch;
    tmp.set(this.endpoints.subarray(a * s, a * s + s), 0);
    tmp.set(this.peerIds.subarray(a * PEER_ID_SIZE, (a + 1) * PEER_ID_SIZE), s);
    const seen = this.lastSeen[a];
    const flags = this.flags[a];
    const owner = this.owner[a];
    this.copyElement(b, a);
    this.endpoints.set(tmp.subarray(0, s), b * s);
    this.peerIds.set(tmp.subarray(s, s + PEER_ID_SIZE), b * PEER_ID_SIZE);
    this.lastSeen[b] = seen;
    this.flags[b] = flags;
    this.owner[b] = owner;
    this.index[ia] = b;
    this.index[ib] = a;
  }

  private copyElement(from: number, to: number): void {
    const s = this.stride;
    this.endpoints.copyWithin(to * s, from * s, from * s + s);
    this.peerIds.copyWithin(to * PEER_ID_SIZE, from * PEER_ID_SIZE, (from + 1) * PEER_ID_SIZE);
    this.lastSeen[to] = this.lastSeen[from];
    this.flags[to] = this.flags[from];
    this.owner[to] = this.owner[from];
  }

  /** Moves torrent `tid` into a block of the smallest power-of-two size that holds `needed` peers. */
  private resize(tid: number, needed: number): void {
    let cls = 0;
    while (1 << cls < needed) cls++;
    const newStart = this.allocBlock(cls);
    const oldStart = this.blockStart[tid];
    const n = this.count[tid];
    for (let i = 0; i < n; i++) this.move(oldStart + i, newStart + i);
    if (oldStart !== NO_BLOCK) this.freeBlocks[this.blockClass[tid]].push(oldStart);
    this.blockStart[tid] = newStart;
    this.blockClass[tid] = cls;
  }

  private freeBlock(tid: number): void {
    this.freeBlocks[this.blockClass[tid]].push(this.blockStart[tid]);
    this.blockStart[tid] = NO_BLOCK;
    this.blockClass[tid] = NO_BLOCK;
    this.downloaders[tid] = 0;
    this.partials[tid] = 0;
  }

  private allocBlock(cls: number): number {
    while (this.freeBlocks.length <= cls) this.freeBlocks.push([]);
    const reused = this.freeBlocks[cls].pop();
    if (reused !== undefined) return reused;
    const size = 1 << cls;
    if (this.top + size > this.capacity) this.growElements(this.top + size);
    const start = this.top;
    this.top += size;
    return start;
  }

  private growElements(needed: number): void {
    let capacity = this.capacity * 2;
    while (capacity < needed) capacity *= 2;
    this.endpoints = grow(this.endpoints, capacity * this.stride);
    this.peerIds = grow(this.peerIds, capacity * PEER_ID_SIZE);
    this.lastSeen = grow(this.lastSeen, capacity);
    this.flags = grow(this.flags, capacity);
    this.owner = grow(this.owner, capacity);
    this.capacity = capacity;
  }
}
