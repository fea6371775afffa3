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

/**
 * The `key=value` pairs of `src[start, end)` one at a time, as byte ranges; empty pairs are skipped, a pair without
 * `=` has an empty value. One reused object instead of a callback: the hot path's parsers stay one loop.
 * A value's end is found when it is asked for (valueEnd), or while decodeValue decodes it: the long values of an
 * announce (info_hash, peer_id) are then read once, not once to find their end and again to decode them.
 */
export class QueryCursor {
  keyStart = 0;
  keyEnd = 0;
  valueStart = 0;
  private src: Uint8Array = new Uint8Array(0);
  private end = 0;
  /** Where the current value ends, or -1 until something has looked. */
  private knownValueEnd = 0;

  reset(src: Uint8Array, start: number, end: number): this {
    this.src = src;
    this.end = end;
    this.valueStart = start;
    this.knownValueEnd = start;
    return this;
  }

  /** Moves to the next pair; false when there is none. */
  next(): boolean {
    const src = this.src;
    const end = this.end;
    let i = this.valueEnd();
    while (i < end && src[i] === AMP) i++;
    if (i >= end) return false;
    this.keyStart = i;
    while (i < end && src[i] !== EQUALS && src[i] !== AMP) i++;
    this.keyEnd = i;
    if (i < end && src[i] === EQUALS) i++;
    this.valueStart = i;
    this.knownValueEnd = -1;
    return true;
  }

  /** One past the current value: the next `&`, or the end. */
  valueEnd(): number {
    let i = this.knownValueEnd;
    if (i >= 0) return i;
    const src = this.src;
    const end = this.end;
    for (i = this.valueStart; i < end && src[i] !== AMP; i++);
    this.knownValueEnd = i;
    return i;
  }

  /** percentDecode of the current value (same results), finding its end on the way. */
  decodeValue(dst: Uint8Array, dstOff: number, max: number): number {
    const src = this.src;
    const end = this.end;
    let n = 0;
    let i = this.valueStart;
    for (; i < end; i++) {
      let c = src[i];
      if (c === AMP) break;
      if (n >= max) return DECODE_TOO_LONG;
      if (c === PERCENT) {
        c = escapeAt(src, i, end);
        if (c < 0) return DECODE_MALFORMED;
        i += 2;
      }
      dst[dstOff + n++] = c;
    }
    this.knownValueEnd = i;
    return n;
  }
}

/** Scans `src[start, end)` as `key=value&key=value`; empty pairs are skipped, a pair without `=` has an empty value. */
export function scanQuery(src: Uint8Array, start: number, end: number, visit: ParamVisitor): void {
  const q = new QueryCursor().reset(src, start, end);
  while (q.next()) if (!visit(src, q.keyStart, q.keyEnd, q.valueStart, q.valueEnd())) return;
}

/** Hex digit values by byte, -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

export function hexValue(c: number): number {
  return HEX[c & 0xff];
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
      c = escapeAt(src, i, end);
      if (c < 0) return DECODE_MALFORMED;
      i += 2;
    }
    dst[dstOff + n++] = c;
  }
  return n;
}

/** The byte that the escape `%XY` at `src[i]` stands for; -1 when it is malformed or cut off by `end`. */
function escapeAt(src: Uint8Array, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const hi = HEX[src[i + 1]];
  const lo = HEX[src[i + 2]];
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
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
