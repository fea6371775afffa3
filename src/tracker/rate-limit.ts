// Per-address token buckets for announces and scrapes. An address is an IPv4 address or an IPv6 /64 (what one
// subscriber usually holds). The table has a fixed number of entries, so its memory is bounded whatever the number
// of addresses: a set-associative cache of SETS × WAYS entries, in a SharedArrayBuffer that every worker uses, so
// the limits hold for the process and not per worker (workers may see each other's update a request late; a rate
// limit does not need to be exact).
//
// When an address is not in its set, it takes the way whose bucket would be fullest: an address that has been quiet
// (a full bucket) loses nothing by being forgotten, while one that has just spent its tokens stays, and stays
// limited. Buckets refill by whole seconds of the tracker's cached clock, so a request costs no clock read.

import { randomBytes } from 'node:crypto';
import { FAMILY_V4 } from '../swarm/store.ts';

export const KIND_ANNOUNCE = 0;
export const KIND_SCRAPE = 1;

export interface RateLimits {
  /** Requests per second per address, and how many may come at once; a rate of 0 sets no limit. */
  announceRate: number;
  announceBurst: number;
  scrapeRate: number;
  scrapeBurst: number;
}

const WAYS = 4;
/** Entries in the table: 64 Ki addresses, about 2.5 MiB. */
export const RATE_LIMIT_ENTRIES = 1 << 16;
const SETS = RATE_LIMIT_ENTRIES / WAYS;
/** Per entry: the key (family tag and two words of address), the second of the last refill, two token counts. */
const KEY_WORDS = 3;
const BYTES_PER_ENTRY = KEY_WORDS * 4 + 4 + 2 * 8;

/** Memory for the table, to share between workers: every entry empty, and the hash seed drawn. */
export function createRateLimitBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(RATE_LIMIT_ENTRIES * BYTES_PER_ENTRY + 8);
  new Uint8Array(buffer, RATE_LIMIT_ENTRIES * BYTES_PER_ENTRY).set(randomBytes(8));
  return buffer;
}

export class RateLimiter {
  private readonly rates: Float64Array;
  private readonly bursts: Float64Array;
  private readonly keys: Uint32Array;
  private readonly refilled: Uint32Array;
  private readonly tokens: Float64Array;
  /** The hash seed, random per process (the buffer's last 8 bytes), so that nobody can aim addresses at one set. */
  private readonly seed: Uint32Array;

  constructor(limits: RateLimits, buffer: SharedArrayBuffer = createRateLimitBuffer()) {
    this.rates = Float64Array.of(limits.announceRate, limits.scrapeRate);
    this.bursts = Float64Array.of(limits.announceBurst, limits.scrapeBurst);
    let at = 0;
    this.tokens = new Float64Array(buffer, at, RATE_LIMIT_ENTRIES * 2);
    at += RATE_LIMIT_ENTRIES * 16;
    this.keys = new Uint32Array(buffer, at, RATE_LIMIT_ENTRIES * KEY_WORDS);
    at += RATE_LIMIT_ENTRIES * KEY_WORDS * 4;
    this.refilled = new Uint32Array(buffer, at, RATE_LIMIT_ENTRIES);
    at += RATE_LIMIT_ENTRIES * 4;
    this.seed = new Uint32Array(buffer, at, 2);
  }

  /** Whether any limit is set. */
  get enabled(): boolean {
    return this.rates[0] > 0 || this.rates[1] > 0;
  }

  /**
   * Takes a token for a request of `kind` from the address `addr` (4 bytes for FAMILY_V4, else 16 of which the first
   * 8 count) at `now` (clock seconds); false when its bucket is empty.
   */
  admit(kind: number, family: number, addr: Uint8Array, now: number): boolean {
    const rate = this.rates[kind];
    if (rate <= 0) return true;
    // The key: IPv4 as (1, address, 0); an IPv6 /64 as (2, first word, second word).
    const tag = family === FAMILY_V4 ? 1 : 2;
    const w0 = ((addr[0] << 24) | (addr[1] << 16) | (addr[2] << 8) | addr[3]) >>> 0;
    const w1 = tag === 1 ? 0 : ((addr[4] << 24) | (addr[5] << 16) | (addr[6] << 8) | addr[7]) >>> 0;
    let h = Math.imul(w0 ^ this.seed[0], 0x9e3779b1) ^ Math.imul(w1 ^ this.seed[1], 0x85ebca77) ^ tag;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    const first = ((h ^ (h >>> 13)) & (SETS - 1)) * WAYS;
    const keys = this.keys;
    let entry = -1;
    for (let e = first; e < first + WAYS && entry < 0; e++) {
      const k = e * KEY_WORDS;
      if (keys[k] === tag && keys[k + 1] === w0 && keys[k + 2] === w1) entry = e;
    }
    if (entry < 0) {
      // An empty way, else the one whose bucket would be fullest.
      let fullestTokens = -1;
      for (let e = first; e < first + WAYS; e++) {
        const t = keys[e * KEY_WORDS] === 0 ? Number.POSITIVE_INFINITY : this.level(e, kind, now);
        if (t > fullestTokens) {
          fullestTokens = t;
          entry = e;
        }
      }
      const k = entry * KEY_WORDS;
      keys[k] = tag;
      keys[k + 1] = w0;
      keys[k + 2] = w1;
      this.tokens[entry * 2] = this.bursts[0];
      this.tokens[entry * 2 + 1] = this.bursts[1];
      this.refilled[entry] = now;
    }
    this.refill(entry, now);
    const at = entry * 2 + kind;
    if (this.tokens[at] < 1) return false;
    this.tokens[at] -= 1;
    return true;
  }

  /** The tokens `entry` would hold for `kind` after a refill at `now`, without changing it. */
  private level(entry: number, kind: number, now: number): number {
    const elapsed = now - this.refilled[entry];
    return Math.min(this.bursts[kind], this.tokens[entry * 2 + kind] + elapsed * this.rates[kind]);
  }

  private refill(entry: number, now: number): void {
    const elapsed = now - this.refilled[entry];
    if (elapsed <= 0) return;
    this.refilled[entry] = now;
    for (let kind = 0; kind < 2; kind++) {
      const at = entry * 2 + kind;
      this.tokens[at] = Math.min(this.bursts[kind], this.tokens[at] + elapsed * this.rates[kind]);
    }
  }
}
