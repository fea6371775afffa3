// Tracker URLs: which ones the tool can ask, the scrape URL of an announce URL (BEP 48), and the query strings.

export type TrackerProtocol = 'http' | 'https' | 'udp';

export interface TrackerUrl {
  protocol: TrackerProtocol;
  /** The URL as the WHATWG parser normalises it, without a fragment. */
  href: string;
  /** Host name or address; an IPv6 address without its brackets. */
  host: string;
  port: number;
}

const DEFAULT_PORTS: Record<TrackerProtocol, number> = { http: 80, https: 443, udp: 0 };

/** The tracker URL, or why it cannot be asked. */
export function parseTrackerUrl(text: string): TrackerUrl | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `'${text}' is not a URL`;
  }
  const protocol = url.protocol.slice(0, -1);
  if (protocol !== 'http' && protocol !== 'https' && protocol !== 'udp') {
    return `'${url.protocol}' trackers are not supported: give an http://, https:// or udp:// URL`;
  }
  if (url.hostname === '') return `'${text}' has no host`;
  if (protocol === 'udp' && (url.port === '' || url.port === '0')) {
    return `'${text}' has no port: a UDP tracker URL is udp://HOST:PORT[/announce]`;
  }
  url.hash = '';
  return {
    protocol,
    href: url.href,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? DEFAULT_PORTS[protocol] : Number(url.port),
  };
}

/**
 * BEP 48: the scrape URL replaces `announce` at the start of the path's last component by `scrape`, keeping the rest
 * and the query (a passkey). Null when the last component does not start with `announce`: then there is none.
 */
export function scrapeUrlOf(announceHref: string): string | null {
  const url = new URL(announceHref);
  const slash = url.pathname.lastIndexOf('/');
  const last = url.pathname.slice(slash + 1);
  if (!last.startsWith('announce')) return null;
  url.pathname = `${url.pathname.slice(0, slash + 1)}scrape${last.slice('announce'.length)}`;
  return url.href;
}

/** `href` with `params` added to its query: after `&` when it has one (a passkey), else after `?`. */
export function withParams(href: string, params: string): string {
  const base = href.endsWith('?') ? href.slice(0, -1) : href;
  return `${base}${new URL(base).search === '' ? '?' : '&'}${params}`;
}

/** Every byte as %XX: binary hashes and peer ids must survive any server's decoding. */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  return out;
}

export interface AnnounceParams {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  port: number;
  left: number;
  numWant: number;
  /** Null sends no event (a regular announce). */
  event: string | null;
}

export function announceQuery(p: AnnounceParams): string {
  const event = p.event === null ? '' : `&event=${p.event}`;
  return (
    `info_hash=${percentEncode(p.infoHash)}&peer_id=${percentEncode(p.peerId)}&port=${p.port}` +
    `&uploaded=0&downloaded=0&left=${p.left}&compact=1&numwant=${p.numWant}${event}`
  );
}

/** The query of a scrape: one info_hash per hash; none at all for a full scrape. */
export function scrapeQuery(hashes: Uint8Array[]): string {
  return hashes.map((h) => `info_hash=${percentEncode(h)}`).join('&');
}
