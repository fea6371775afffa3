// A fast, non-cryptographic random source for peer sampling and interval jitter, seeded from the OS.
//
// Math.random() returns a double that V8 boxes as a heap number unless the caller is fully optimised; in the
// allocation profile of a UDP load it was most of the hot path's garbage. xorshift32 stays in 32-bit integers.
// Nothing here needs to be unpredictable: an attacker gains nothing from knowing which peers another client got.

import { randomBytes } from 'node:crypto';

let state = randomBytes(4).readInt32LE(0) || 1;

/** A random whole number in [0, n), for 0 < n < 2^31 (bias below n / 2^31, negligible for peer counts). */
export function randomBelow(n: number): number {
  let x = state;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  state = x;
  // 31 random bits scaled to [0, n) by a multiplication instead of an integer division (a modulo); the product is
  // exact below n = 2^22 and off by far less than n above, so the result stays below n.
  return ((x & 0x7fffffff) * n * 2 ** -31) | 0;
}
