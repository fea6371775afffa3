// Networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single address) and a list of them that answers
// "is this client address inside?" without allocating: for trusted proxies, /stats access and cluster peers.

import { isV4Mapped, parseIPv4, parseIPv6 } from './ip.ts';

export interface Network {
  /** 4 or 16 address bytes, host bits cleared. */
  bytes: Uint8Array;
  bits: number;
}

/** Parses `ip` or `ip/bits`; returns the network or a one-line reason. */
export function parseNetwork(text: string): Network | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const bytes = new Uint8Array(16);
  let length: number;
  if (parseIPv4(address, bytes, 0)) length = 4;
  else if (parseIPv6(address, bytes, 0) && !address.includes('%')) length = 16;
  else return `'${address}' is not an IP address`;
  const max = length * 8;
  let bits = max;
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(suffix) || Number(suffix) > max)
      return `'/${suffix}' is not a prefix length from 0 to ${max}`;
    bits = Number(suffix);
  }
  const network = bytes.slice(0, length);
  for (let b = 0; b < length; b++) {
    const keep = Math.max(0, Math.min(8, bits - b * 8));
    network[b] &= (0xff00 >> keep) & 0xff;
  }
  return { bytes: network, bits };
}

export class NetworkList {
  private readonly v4: Network[] = [];
  private readonly v6: Network[] = [];

  /** Throws a RangeError naming the first entry that does not parse. */
  constructor(texts: readonly string[]) {
    for (const text of texts) {
      const n = parseNetwork(text);
      if (typeof n === 'string') throw new RangeError(n);
      (n.bytes.length === 4 ? this.v4 : this.v6).push(n);
    }
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  /** Whether the address in `addr[off…]` (4 bytes, or 16; a v4-mapped IPv6 address counts as IPv4) is inside. */
  contains(addr: Uint8Array, off: number, length: number): boolean {
    if (length === 16 && isV4Mapped(addr, off)) return this.inside(this.v4, addr, off + 12);
    return this.inside(length === 4 ? this.v4 : this.v6, addr, off);
  }

  private inside(list: Network[], addr: Uint8Array, off: number): boolean {
    for (const n of list) {
      let b = 0;
      let bits = n.bits;
      for (; bits >= 8; bits -= 8, b++) if (addr[off + b] !== n.bytes[b]) break;
      if (bits >= 8) continue;
      if (bits === 0 || ((addr[off + b] ^ n.bytes[b]) & (0xff00 >> bits)) === 0) return true;
    }
    return false;
  }
}
