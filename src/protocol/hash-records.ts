// 20-byte info hashes packed end to end ("records"), ordered by their bytes: canonical bencode wants dictionary keys
// in that order (a scrape's `files`), and the access lists search them sorted. Indexes are sorted, not the bytes.

export const HASH_RECORD = 20;

/** Compares records `a` and `b` of `src` from byte `from` on: negative, 0 or positive. */
export function compareHashRecords(src: Uint8Array, a: number, b: number, from = 0): number {
  const pa = a * HASH_RECORD;
  const pb = b * HASH_RECORD;
  for (let i = from; i < HASH_RECORD; i++) {
    const c = src[pa + i] - src[pb + i];
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Sorts the record numbers `order[from, to)` by the records' bytes from byte `fromByte` on: an insertion sort, for
 * the few records of a scrape or of one bucket of a larger sort, where it beats a comparator call per comparison.
 */
export function sortHashRecords(src: Uint8Array, order: Uint32Array, from: number, to: number, fromByte = 0): void {
  for (let i = from + 1; i < to; i++) {
    const r = order[i];
    let j = i - 1;
    while (j >= from && compareHashRecords(src, order[j], r, fromByte) > 0) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = r;
  }
}
