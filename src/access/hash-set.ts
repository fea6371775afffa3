// An immutable set of 20-byte info hashes: one sorted Buffer and a binary search, as opentracker keeps its access
// lists. A lookup runs on every announce, so has() allocates nothing and reads the caller's bytes where they lie.

import { compareHashRecords, HASH_RECORD as HASH, sortHashRecords } from '../protocol/hash-records.ts';

export class HashSet {
  static readonly EMPTY = new HashSet(Buffer.alloc(0));

  /** The number of distinct hashes. */
  readonly size: number;
  /** The distinct hashes, sorted by their bytes, end to end. */
  private readonly sorted: Uint8Array;

  /**
   * `hashes`: n × 20 bytes in any order, duplicates allowed. The set takes the buffer over and sorts it in place (no
   * copy: a list of millions of hashes needs no second buffer), so the caller passes one it no longer uses.
   */
  constructor(hashes: Uint8Array) {
    if (hashes.length % HASH !== 0) throw new RangeError(`${hashes.length} bytes is not a whole number of hashes`);
    this.sorted = sortUnique(hashes);
    this.size = this.sorted.length / HASH;
  }

  /** Whether the 20 bytes of `hash` from `off` are in the set. */
  has(hash: Uint8Array, off: number): boolean {
    const sorted = this.sorted;
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const base = mid * HASH;
      let c = 0;
      for (let i = 0; i < HASH && c === 0; i++) c = sorted[base + i] - hash[off + i];
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Each hash as a 20-byte view, in byte order. For tools and tests, not the hot path. */
  *values(): IterableIterator<Buffer> {
    const { buffer, byteOffset, length } = this.sorted;
    for (let at = 0; at < length; at += HASH) yield Buffer.from(buffer, byteOffset + at, HASH);
  }
}

/**
 * Sorts the records in place and returns the distinct ones, a view of the same memory. The order is found through an
 * index: a counting sort on the first two bytes (info hashes are SHA-1 output, so the buckets hold a few records each),
 * then each bucket by its remaining bytes. Memory beyond the records is 4 bytes per record and 256 KiB of counters.
 */
function sortUnique(src: Uint8Array): Uint8Array {
  const n = src.length / HASH;
  if (n === 0) return src;
  const starts = new Uint32Array(65537);
  for (let r = 0; r < n; r++) starts[prefix(src, r) + 1]++;
  for (let b = 1; b <= 65536; b++) starts[b] += starts[b - 1];
  const order = new Uint32Array(n);
  const fill = starts.slice(0, 65536);
  for (let r = 0; r < n; r++) order[fill[prefix(src, r)]++] = r;

  const compare = (a: number, b: number): number => compareHashRecords(src, a, b, 2);
  for (let b = 0; b < 65536; b++) {
    const from = starts[b];
    const to = starts[b + 1];
    if (to - from <= 16) sortHashRecords(src, order, from, to, 2);
    else order.subarray(from, to).sort(compare);
  }

  permute(src, order);
  // Sorted now, so duplicates are neighbours: keep the first of each run.
  let len = HASH;
  for (let at = HASH; at < src.length; at += HASH) {
    if (compareHashRecords(src, at / HASH, len / HASH - 1) === 0) continue;
    if (at !== len) src.copyWithin(len, at, at + HASH);
    len += HASH;
  }
  return src.subarray(0, len);
}

/** Moves record order[i] to position i for every i, cycle by cycle, with one record of scratch space. */
function permute(src: Uint8Array, order: Uint32Array): void {
  const scratch = new Uint8Array(HASH);
  for (let i = 0; i < order.length; i++) {
    if (order[i] === i) continue;
    scratch.set(src.subarray(i * HASH, i * HASH + HASH));
    let to = i;
    for (;;) {
      const from = order[to];
      order[to] = to;
      if (from === i) break;
      src.copyWithin(to * HASH, from * HASH, from * HASH + HASH);
      to = from;
    }
    src.set(scratch, to * HASH);
  }
}

function prefix(src: Uint8Array, record: number): number {
  return (src[record * HASH] << 8) | src[record * HASH + 1];
}
