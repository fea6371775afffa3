// Binary-safe query-string scanning. An info_hash is 20 raw bytes sent percent-encoded; URLSearchParams would decode
// it as UTF-8 and corrupt it, so everything here works on bytes and never builds strings on the hot path.

const PERCENT = 0x25;
const AMP = 0x26;
const EQUALS = 0x3d;

/** Called once per `key=value` pair with byte ranges into the source; return false to stop scanning. */
export type ParamVisitor = (
  src: Uint8Array,
  keyStart: number,
  keyEnd: number,
  valStart: number,
  valEnd: number,
) => boolean;

/** Scans `src[start, end)` as `key=value&key=value`; empty pairs are skipped, a pair without `=` has an empty value. */
export function scanQuery(src: Uint8Array, start: number, end: number, visit: ParamVisitor): void {
  let pairStart = start;
  while (pairStart < end) {
    let pairEnd = pairStart;
    let eq = -1;
    while (pairEnd < end && src[pairEnd] !== AMP) {
      if (eq < 0 && src[pairEnd] === EQUALS) eq = pairEnd;
      pairEnd++;
    }
    if (pairEnd > pairStart) {
      const keyEnd = eq < 0 ? pairEnd : eq;
      const valStart = eq < 0 ? pairEnd : eq + 1;
      if (!visit(src, pairStart, keyEnd, valStart, pairEnd)) return;
    }
    pairStart = pairEnd + 1;
  }
}

export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

export const DECODE_MALFORMED = -1;
export const DECODE_TOO_LONG = -2;

/**
 * Percent-decodes `src[start, end)` into `dst` at `dstOff`, writing at most `max` bytes.
 * Returns the decoded length, DECODE_MALFORMED for a bad escape, or DECODE_TOO_LONG.
 * `+` stays `+`: tracker clients percent-encode every reserved byte, and a binary hash must not gain spaces.
 */
export function percentDecode(
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  dstOff: number,
  max: number,
): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    if (n >= max) return DECODE_TOO_LONG;
    let c = src[i];
    if (c === PERCENT) {
      if (i + 2 >= end) return DECODE_MALFORMED;
      const hi = hexValue(src[i + 1]);
      const lo = hexValue(src[i + 2]);
      if (hi < 0 || lo < 0) return DECODE_MALFORMED;
      c = (hi << 4) | lo;
      i += 2;
    }
    dst[dstOff + n++] = c;
  }
  return n;
}

export const NOT_A_NUMBER = Number.NaN;

/**
 * Parses a decimal integer (optional leading `-`, at most 20 digits) from raw bytes.
 * Returns NaN for anything else. Values above 2^53 lose precision, which no tracker decision depends on.
 */
export function parseDecimal(src: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end && src[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i >= end || end - i > 20) return NOT_A_NUMBER;
  let n = 0;
  for (; i < end; i++) {
    const d = src[i] - 0x30;
    if (d < 0 || d > 9) return NOT_A_NUMBER;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** True when `src[start, end)` holds exactly the ASCII text `name`. */
export function bytesEqual(src: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (src[start + i] !== name[i]) return false;
  return true;
}

export function ascii(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}
