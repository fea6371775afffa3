// HalfSipHash-2-4 with a 32-bit tag (Aumasson and Bernstein's reduced-width SipHash): a keyed PRF small and fast
// enough to sign every UDP connection id in plain JavaScript.

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/** The 32-bit tag of `msg[off, off+len)` under the 8-byte key (k0, k1), as an unsigned number. */
export function halfSipHash24(k0: number, k1: number, msg: Uint8Array, off: number, len: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  const end = off + len - (len % 4);
  for (let i = off; i <= end; i += 4) {
    let m: number;
    if (i < end) {
      m = msg[i] | (msg[i + 1] << 8) | (msg[i + 2] << 16) | (msg[i + 3] << 24);
    } else {
      // The last block: remaining bytes, with the length in the top byte.
      m = (len & 0xff) << 24;
      const left = len % 4;
      if (left >= 3) m |= msg[i + 2] << 16;
      if (left >= 2) m |= msg[i + 1] << 8;
      if (left >= 1) m |= msg[i];
    }
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 = (v0 + v1) | 0;
      v1 = rotl(v1, 5) ^ v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) | 0;
      v3 = rotl(v3, 8) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = rotl(v3, 7) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = rotl(v1, 13) ^ v2;
      v2 = rotl(v2, 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  }
  return (v1 ^ v3) >>> 0;
}
