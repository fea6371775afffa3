// Non-negative integers written as decimal ASCII straight into a buffer, for bencode and HTTP heads: no string per
// number. Replies carry a handful of small numbers each (counts, lengths, intervals), so the common case is int32,
// done in integer arithmetic; larger values (a 64-bit `downloaded` total, say) take the floating-point path.

const DIGIT_0 = 0x30;
const INT32_MAX = 0x7fffffff;

/** How many digits `n` (a non-negative integer) has in decimal. */
export function decimalDigits(n: number): number {
  if (n <= INT32_MAX) {
    let digits = 1;
    for (let v = n | 0; v >= 10; v = (v / 10) | 0) digits++;
    return digits;
  }
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  return digits;
}

/** Writes `n` (a non-negative integer) at `out[at]`; returns the offset after it. */
export function writeDecimal(out: Uint8Array, at: number, n: number): number {
  const end = at + decimalDigits(n);
  if (n <= INT32_MAX) {
    // Right to left into place; (v / 10) | 0 on an int32 compiles to a multiply, not a division.
    for (let k = end - 1, v = n | 0; k >= at; k--) {
      const q = (v / 10) | 0;
      out[k] = DIGIT_0 + v - q * 10;
      v = q;
    }
    return end;
  }
  for (let k = end - 1, v = n; k >= at; k--, v = Math.floor(v / 10)) out[k] = DIGIT_0 + (v % 10);
  return end;
}
