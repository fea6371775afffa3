// Keyed 32-bit hashing for the store's open-addressing tables. Info hashes and endpoints come from the network, so
// the table position depends on a random per-process key: a client cannot aim many keys at one probe chain.

import { randomBytes } from 'node:crypto';

export class KeyedHasher {
  private readonly seed: number;

  constructor(seed = randomBytes(4).readUInt32LE(0)) {
    this.seed = seed | 0;
  }

  /** Hashes `length` bytes of `src` from `offset` (any length), mixed with the number `extra`. */
  hashBytes(src: Uint8Array, offset: number, length: number, extra: number): number {
    let h = this.seed ^ Math.imul(extra, 0x9e3779b1);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const o = offset + i;
      h = round(h, src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24));
    }
    if (i < length) {
      let w = 0;
      for (let shift = 0; i < length; i++, shift += 8) w |= src[offset + i] << shift;
      h = round(h, w);
    }
    return finish(h ^ length);
  }

  /** Hashes the 32-bit words `src[offset…offset+count)`, mixed with the number `extra`. */
  hashWords(src: Int32Array, offset: number, count: number, extra: number): number {
    let h = this.seed ^ Math.imul(extra, 0x9e3779b1);
    for (let k = 0; k < count; k++) h = round(h, src[offset + k]);
    return finish(h ^ (count * 4));
  }
}

function round(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
