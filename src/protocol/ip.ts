// IP address text ⇄ bytes, and compact endpoints (BEP 23: 4-byte IPv4 or 16-byte IPv6, then a 2-byte port).

export const IPV4 = 4;
export const IPV6 = 6;

/** Parses dotted-quad IPv4 text into 4 bytes at `out[off]`. */
export function parseIPv4(text: string, out: Uint8Array, off: number): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[off + part++] = value;
      value = 0;
      digits = 0;
    } else {
      const d = c - 0x30;
      if (d < 0 || d > 9 || (digits > 0 && value === 0)) return false; // no leading zeros
      value = value * 10 + d;
      if (value > 255) return false;
      digits++;
    }
  }
  return part === 4;
}

/** Parses IPv6 text (with `::`, an embedded IPv4 tail, and an optional `%zone`) into 16 bytes at `out[off]`. */
export function parseIPv6(text: string, out: Uint8Array, off: number): boolean {
  const zone = text.indexOf('%');
  if (zone >= 0) {
    if (zone === text.length - 1) return false; // an empty zone id
    text = text.slice(0, zone);
  }
  if (text.length < 2 || text.length > 45) return false;
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
  } else if (text[0] === ':') {
    return false;
  }
  while (i < text.length) {
    let j = i;
    while (j < text.length && text[j] !== ':') j++;
    const piece = text.slice(i, j);
    if (piece.includes('.')) {
      // An IPv4 tail must be last and takes two groups.
      if (j !== text.length || groups.length > 6) return false;
      const v4 = new Uint8Array(4);
      if (!parseIPv4(piece, v4, 0)) return false;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      i = j;
      break;
    }
    if (piece.length === 0 || piece.length > 4 || !/^[0-9a-fA-F]+$/.test(piece)) return false;
    groups.push(Number.parseInt(piece, 16));
    if (j === text.length) {
      i = j;
      break;
    }
    if (text[j + 1] === ':') {
      if (gap >= 0) return false;
      gap = groups.length;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === text.length) return false; // a trailing single ':'
    }
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return false;
  const fill = 8 - groups.length;
  let g = 0;
  for (let k = 0; k < 8; k++) {
    const value = gap >= 0 && k >= gap && k < gap + fill ? 0 : groups[g++];
    out[off + 2 * k] = value >> 8;
    out[off + 2 * k + 1] = value & 0xff;
  }
  return true;
}

/** True when the 16 bytes at `b[off]` are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/**
 * Writes the compact endpoint of `address` (as a socket reports it) and `port` to `out[0…]`.
 * Returns IPV4 (6 bytes written), IPV6 (18 bytes written) or 0 when the text is no address.
 * An IPv4-mapped IPv6 address is an IPv4 peer: it gets the 6-byte form.
 */
export function writeEndpoint(address: string, port: number, out: Uint8Array): number {
  let family = 0;
  if (parseIPv4(address, out, 0)) family = IPV4;
  else if (parseIPv6(address, out, 0)) {
    if (isV4Mapped(out, 0)) {
      out.copyWithin(0, 12, 16);
      family = IPV4;
    } else family = IPV6;
  }
  if (family === 0) return 0;
  const at = family === IPV4 ? 4 : 16;
  out[at] = port >> 8;
  out[at + 1] = port & 0xff;
  return family;
}

/** Formats 4 or 16 address bytes as text (IPv6 in the RFC 5952 canonical form). */
export function formatIp(b: Uint8Array, off: number, length: number): string {
  if (length === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  const groups: number[] = [];
  for (let k = 0; k < 8; k++) groups.push((b[off + 2 * k] << 8) | b[off + 2 * k + 1]);
  // The longest run of two or more zero groups (the first one on a tie) becomes '::'.
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && groups[e] === 0) e++;
    if (e - k > bestLength) {
      bestStart = k;
      bestLength = e - k;
    }
    k = e;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
