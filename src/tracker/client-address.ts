// Which address an HTTP client really has. The socket's, unless the socket is a trusted reverse proxy: then the
// proxy headers name it — Forwarded (RFC 7239), else X-Forwarded-For, else X-Real-IP — read from the right, where
// each proxy appends what it saw, and the first address that is not itself a trusted proxy wins. Everything left of
// it was written by the client and proves nothing. With --ip-from-query an announce's `ip=` overrides all of this.

import { PROXY_FORWARDED, PROXY_X_REAL_IP, type RequestHead } from '../protocol/http-request.ts';
import { isV4Mapped, parseIPv4, parseIPv6 } from '../protocol/ip.ts';
import type { NetworkList } from '../protocol/networks.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';

/** An address: its family (FAMILY_V4 or FAMILY_V6) and 4 or 16 bytes. */
export interface ClientAddress {
  family: number;
  addr: Uint8Array;
}

export class ClientAddressResolver {
  private readonly proxies: NetworkList;
  private readonly resolved: ClientAddress = { family: FAMILY_V4, addr: new Uint8Array(16) };
  private readonly scratch = new Uint8Array(16);

  constructor(proxies: NetworkList) {
    this.proxies = proxies;
  }

  /**
   * The client's address for a request whose head is `head` (parsed from `buf`) that came from `socket`. Returns
   * `socket` itself unless it is a trusted proxy with a usable header; otherwise a reused object, valid until the
   * next call.
   */
  resolve(buf: Uint8Array, head: RequestHead, socket: ClientAddress): ClientAddress {
    if (this.proxies.size === 0 || head.proxyHeaderCount === 0) return socket;
    if (!this.proxies.contains(socket.addr, 0, socket.family === FAMILY_V4 ? 4 : 16)) return socket;
    const kind = preferredKind(head);
    // The values of every header of that kind, in order, as one comma-separated list.
    const parts: string[] = [];
    const h = head.proxyHeaders;
    for (let k = 0; k < head.proxyHeaderCount; k++) {
      if (h[k * 3] === kind) parts.push(Buffer.from(buf.subarray(h[k * 3 + 1], h[k * 3 + 2])).toString('latin1'));
    }
    const entries = parts.join(',').split(',');
    let chosen: ClientAddress | null = null;
    for (let k = entries.length - 1; k >= 0; k--) {
      const text = kind === PROXY_FORWARDED ? forwardedFor(entries[k]) : entries[k].trim();
      const found = text === null ? null : this.parse(text);
      // An element a proxy could not fill in (unknown, obfuscated, garbage): nothing left of it can be trusted.
      if (found === null) break;
      chosen = found;
      if (!this.proxies.contains(found.addr, 0, found.family === FAMILY_V4 ? 4 : 16)) break;
    }
    return chosen ?? socket;
  }

  /** Parses address text (IPv4, IPv6, bracketed IPv6 with or without a port, IPv4 with a port) into `resolved`. */
  private parse(text: string): ClientAddress | null {
    let t = text;
    if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) t = t.slice(1, -1);
    if (t.startsWith('[')) {
      const close = t.indexOf(']');
      if (close < 0) return null;
      t = t.slice(1, close);
    } else if (t.indexOf(':') === t.lastIndexOf(':') && t.includes(':')) {
      t = t.slice(0, t.indexOf(':')); // IPv4:port
    }
    // Parsed into scratch first: a failed parse may have written part of an address.
    const out = this.resolved;
    if (parseIPv4(t, this.scratch, 0)) {
      out.addr.set(this.scratch.subarray(0, 4), 0);
      out.family = FAMILY_V4;
      return out;
    }
    if (t.includes('%') || !parseIPv6(t, this.scratch, 0)) return null;
    if (isV4Mapped(this.scratch, 0)) {
      out.addr.set(this.scratch.subarray(12, 16), 0);
      out.family = FAMILY_V4;
    } else {
      out.addr.set(this.scratch, 0);
      out.family = FAMILY_V6;
    }
    return out;
  }
}

/** Forwarded if any came, else X-Forwarded-For, else X-Real-IP. */
function preferredKind(head: RequestHead): number {
  let best = 0;
  const rank = [0, 2, 1, 3]; // by PROXY_* kind: Forwarded 3, X-Forwarded-For 2, X-Real-IP 1
  for (let k = 0; k < head.proxyHeaderCount; k++) {
    const kind = head.proxyHeaders[k * 3];
    if (rank[kind] > rank[best]) best = kind;
  }
  return best === 0 ? PROXY_X_REAL_IP : best;
}

/** The `for=` value of one Forwarded element (`for=1.2.3.4;proto=https`), or null when it has none. */
function forwardedFor(element: string): string | null {
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq >= 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1).trim();
  }
  return null;
}
