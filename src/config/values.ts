// Value parsers shared by the flags and the config file: each returns the value or a one-line reason.

import { isIP } from 'node:net';
import { parseNetwork } from '../protocol/networks.ts';

export const OPENTRACKER_PORT = 6969;

/** A port from 0 to 65535. */
export function parsePort(text: string): number | string {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) return `'${text}' is not a port from 0 to 65535`;
  return Number(text);
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * opentracker's `ip[:port]`: `1.2.3.4`, `1.2.3.4:6969`, `[::1]:6969`, `[::1]` or a bare IPv6 address (which cannot
 * carry a port). The port defaults to `defaultPort`.
 */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | string {
  let host = text;
  let portText = '';
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return `'${text}': '[' without ']'`;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return `'${text}': expected ':port' after ']'`;
    portText = rest.slice(1);
    if (isIP(host) !== 6) return `'${host}' is not an IPv6 address`;
  } else if (isIP(text) === 0) {
    const colon = text.lastIndexOf(':');
    if (colon < 0 || isIP(text.slice(0, colon)) !== 4) return `'${text}' is not an address or address:port`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (portText === '' && text.endsWith(':')) return `'${text}': empty port`;
  const port = portText === '' ? defaultPort : parsePort(portText);
  if (typeof port === 'string') return port;
  return { host, port };
}

/** A network in CIDR notation, or a single address; returned as given when valid. */
export function checkNetwork(text: string): string | { error: string } {
  const n = parseNetwork(text);
  return typeof n === 'string' ? { error: n } : text;
}

/**
 * A name clients reach the tracker by, as it goes after `https://`: a DNS name, an IPv4 address or a bracketed IPv6
 * address, with an optional `:port`. Returns null when acceptable, else the reason.
 */
export function checkDomain(text: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(text);
  if (m === null) return `'${text}' is not a host name or address with an optional :port`;
  if (m[1].startsWith('[') && isIP(m[1].slice(1, -1)) !== 6) return `'${m[1]}' is not an IPv6 address`;
  if (m[2] !== undefined && typeof parsePort(m[2]) === 'string') return `'${m[2]}' is not a port`;
  return null;
}

/** The port a --domain value names, or null when it names none. */
export function domainPort(domain: string): number | null {
  const m = /:(\d+)$/.exec(domain);
  return m === null || domain.endsWith(']') ? null : Number(m[1]);
}
