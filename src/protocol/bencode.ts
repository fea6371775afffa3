// Bencode (BEP 3). The hot path writes replies with BencodeWriter straight into a reused buffer;
// decode() is total and bounded, for the few places that read bencode (tests, tools, .torrent files).

import { writeDecimal } from './decimal.ts';

export type BValue = number | bigint | Uint8Array | BValue[] | BDict;
export interface BDict {
  [key: string]: BValue;
}

const DIGIT_0 = 0x30;

/** Writes bencode into a caller-owned buffer. The caller sizes the buffer for the largest reply it builds. */
export class BencodeWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  /** Writes into `buf` from now on. */
  setBuffer(buf: Uint8Array): void {
    this.buf = buf;
  }

  reset(pos = 0): this {
    this.pos = pos;
    return this;
  }

  byte(b: number): this {
    this.buf[this.pos++] = b;
    return this;
  }

  /** Pre-encoded bytes, e.g. a dictionary key made once with encodeKey(). */
  raw(bytes: Uint8Array): this {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  dict(): this {
    return this.byte(0x64); // d
  }

  list(): this {
    return this.byte(0x6c); // l
  }

  end(): this {
    return this.byte(0x65); // e
  }

  int(n: number): this {
    this.byte(0x69); // i
    this.decimal(n);
    return this.byte(0x65);
  }

  /** A byte string: `<length>:<bytes>`. */
  bytes(src: Uint8Array, start = 0, end = src.length): this {
    this.decimal(end - start);
    this.byte(0x3a);
    // A loop, not buf.set(src.subarray(…)): replies copy a few hundred bytes, and a view object per copy costs more.
    const buf = this.buf;
    let pos = this.pos;
    for (let i = start; i < end; i++) buf[pos++] = src[i];
    this.pos = pos;
    return this;
  }

  /** A byte string of ASCII/latin1 text. */
  text(s: string): this {
    this.decimal(s.length);
    this.byte(0x3a);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i) & 0xff;
    return this;
  }

  /** Reserves a byte string of `length` bytes and returns the offset its content starts at. */
  reserveBytes(length: number): number {
    this.decimal(length);
    this.byte(0x3a);
    const at = this.pos;
    this.pos += length;
    return at;
  }

  private decimal(n: number): void {
    if (n < 0) {
      this.byte(0x2d);
      n = -n;
    }
    this.pos = writeDecimal(this.buf, this.pos, Math.trunc(n));
  }
}

/** Encodes a dictionary key (or any short text) once, for reuse with BencodeWriter.raw(). */
export function encodeKey(key: string): Uint8Array {
  return Buffer.from(`${key.length}:${key}`, 'latin1');
}

/** The number of bytes `bytes(x)` writes for a string of `length` bytes. */
export function byteStringSize(length: number): number {
  return String(length).length + 1 + length;
}

/** Encodes any value; dictionary keys are sorted by their bytes as BEP 3 requires. Not for the hot path. */
export function encode(value: BValue): Buffer {
  const parts: Uint8Array[] = [];
  encodeInto(value, parts);
  return Buffer.concat(parts);
}

function encodeInto(value: BValue, parts: Uint8Array[]): void {
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isInteger(value)) throw new TypeError('bencode integers must be whole');
    // Through BigInt: a number's own text turns to exponent notation from 1e21 on.
    parts.push(Buffer.from(`i${BigInt(value)}e`, 'latin1'));
  } else if (value instanceof Uint8Array) {
    parts.push(Buffer.from(`${value.length}:`, 'latin1'), value);
  } else if (Array.isArray(value)) {
    parts.push(Buffer.from('l'));
    for (const item of value) encodeInto(item, parts);
    parts.push(Buffer.from('e'));
  } else {
    parts.push(Buffer.from('d'));
    const keys = Object.keys(value)
      .map((k) => Buffer.from(k, 'latin1'))
      .sort(Buffer.compare);
    for (const key of keys) {
      parts.push(Buffer.from(`${key.length}:`, 'latin1'), key);
      encodeInto(value[key.toString('latin1')], parts);
    }
    parts.push(Buffer.from('e'));
  }
}

export interface DecodeLimits {
  /** Deepest nesting of lists and dictionaries; never more than MAX_DEPTH. */
  maxDepth: number;
  /**
   * false accepts dictionary keys out of order (never repeated): real .torrent files have them, and a torrent's
   * info hash covers its bytes as they are. Default true, so that a decoded reply is canonical.
   */
  sortedKeys?: boolean;
  /** Filled with where the value of each key of the top-level dictionary starts and ends (to hash `info`). */
  spans?: Map<string, { start: number; end: number }>;
}

interface DecodeState {
  pos: number;
  sortedKeys: boolean;
  spans: Map<string, { start: number; end: number }> | null;
}

/** The decoder recurses once per level: deeper limits than this are clamped so the stack cannot overflow. */
export const MAX_DEPTH = 1000;

export class BencodeError extends Error {
  override name = 'BencodeError';
}

/**
 * Decodes one complete bencoded value. Throws BencodeError (and nothing else) on any malformed input:
 * trailing bytes, leading zeros, `-0`, unsorted or duplicate keys are all refused, so a successful decode is canonical.
 * Dictionary keys become latin1 strings (each byte one char), so binary keys such as info hashes survive.
 * Integers beyond 2^53 come back as bigint.
 */
export function decode(input: Uint8Array, limits: DecodeLimits = { maxDepth: 64 }): BValue {
  const state = decodeState(limits);
  const value = decodeAt(input, state, Math.min(limits.maxDepth, MAX_DEPTH), true);
  if (state.pos !== input.length) throw new BencodeError(`trailing bytes at offset ${state.pos}`);
  return value;
}

/** Decodes one value at the start of `input` and reports where it ended; the rest is left alone. */
export function decodePrefix(
  input: Uint8Array,
  limits: DecodeLimits = { maxDepth: 64 },
): { value: BValue; end: number } {
  const state = decodeState(limits);
  const value = decodeAt(input, state, Math.min(limits.maxDepth, MAX_DEPTH), true);
  return { value, end: state.pos };
}

function decodeState(limits: DecodeLimits): DecodeState {
  return { pos: 0, sortedKeys: limits.sortedKeys ?? true, spans: limits.spans ?? null };
}

function decodeAt(input: Uint8Array, state: DecodeState, depth: number, top: boolean): BValue {
  if (state.pos >= input.length) throw new BencodeError('unexpected end of input');
  const c = input[state.pos];
  if (c === 0x69) return decodeInt(input, state);
  if (c >= DIGIT_0 && c <= DIGIT_0 + 9) return decodeBytes(input, state);
  if (c === 0x6c || c === 0x64) {
    if (depth <= 0) throw new BencodeError('nesting too deep');
    state.pos++;
    if (c === 0x6c) {
      const list: BValue[] = [];
      while (peek(input, state) !== 0x65) list.push(decodeAt(input, state, depth - 1, false));
      state.pos++;
      return list;
    }
    const dict: BDict = Object.create(null);
    let previous: Uint8Array | null = null;
    while (peek(input, state) !== 0x65) {
      if (input[state.pos] < DIGIT_0 || input[state.pos] > DIGIT_0 + 9) {
        throw new BencodeError(`dictionary key is not a byte string at offset ${state.pos}`);
      }
      const key = decodeBytes(input, state);
      const name = Buffer.from(key).toString('latin1');
      if (state.sortedKeys ? previous !== null && Buffer.compare(previous, key) >= 0 : Object.hasOwn(dict, name)) {
        throw new BencodeError(`dictionary keys unsorted or repeated at offset ${state.pos}`);
      }
      previous = key;
      const start = state.pos;
      dict[name] = decodeAt(input, state, depth - 1, false);
      if (top) state.spans?.set(name, { start, end: state.pos });
    }
    state.pos++;
    return dict;
  }
  throw new BencodeError(`unexpected byte 0x${c.toString(16)} at offset ${state.pos}`);
}

function peek(input: Uint8Array, state: DecodeState): number {
  if (state.pos >= input.length) throw new BencodeError('unexpected end of input');
  return input[state.pos];
}

function decodeInt(input: Uint8Array, state: DecodeState): number | bigint {
  const start = state.pos + 1;
  const end = input.indexOf(0x65, start);
  if (end < 0) throw new BencodeError('unterminated integer');
  const text = Buffer.from(input.subarray(start, end)).toString('latin1');
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) throw new BencodeError(`malformed integer at offset ${state.pos}`);
  state.pos = end + 1;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function decodeBytes(input: Uint8Array, state: DecodeState): Uint8Array {
  const colon = input.indexOf(0x3a, state.pos);
  if (colon < 0 || colon - state.pos > 16) throw new BencodeError(`malformed string length at offset ${state.pos}`);
  const text = Buffer.from(input.subarray(state.pos, colon)).toString('latin1');
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new BencodeError(`malformed string length at offset ${state.pos}`);
  const length = Number(text);
  const start = colon + 1;
  if (start + length > input.length) throw new BencodeError('string runs past the end of input');
  state.pos = start + length;
  return input.subarray(start, start + length);
}
