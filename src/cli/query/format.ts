// The two outputs: an aligned table for people (the title before the query, progress lines as it goes, a summary
// after) and one JSON object for scripts. Text that came from the tracker is printed with control bytes escaped.

import { formatHostPort } from '../../config/values.ts';
import type { QueryOptions } from './args.ts';
import type { Exchange } from './exchange.ts';
import type { AnnounceInfo, ScrapeInfo } from './replies.ts';

export interface Report {
  options: QueryOptions;
  exchange: Exchange;
  announce: AnnounceInfo | null;
  scrape: ScrapeInfo | null;
  /** Why the exit status is 1 (no usable answer, or the tracker refused); null when it answered. */
  error: string | null;
}

const LABEL_WIDTH = 14;
const RULE = '─'.repeat(72);

/** Escapes C0 and C1 controls and DEL, so a hostile reply cannot drive the terminal. */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function line(label: string, text: string): string {
  return `${label.padEnd(LABEL_WIDTH)}${text}`;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** A peer id as text when it is printable ASCII (most clients' are), else as hex. */
function peerIdText(id: Uint8Array): string {
  const ascii = Buffer.from(id).toString('latin1');
  return /^[\x20-\x7e]*$/.test(ascii) ? ascii : `hex ${hex(id)}`;
}

/** What is asked, before asking it. */
export function titleLines(o: QueryOptions): string[] {
  const protocol = o.tracker.protocol.toUpperCase();
  const what =
    o.mode === 'announce'
      ? `announce, event ${o.event}`
      : o.mode === 'scrape'
        ? `scrape of ${o.hashes.length} torrent${o.hashes.length === 1 ? '' : 's'}`
        : 'full scrape';
  const lines = [`${protocol} ${what} → ${o.tracker.href}`, RULE];
  if (o.tracker.protocol !== 'udp') lines.push(line('Client', o.userAgent));
  o.hashes.forEach((h, i) => {
    lines.push(line(i === 0 ? (o.hashes.length === 1 ? 'Info hash' : 'Info hashes') : '', hex(h)));
  });
  if (o.mode === 'announce') {
    lines.push(line('Peer id', peerIdText(o.peerId)));
    lines.push(line('Announcing', `port ${o.port}, left ${o.left}, ${o.numWant} peers wanted`));
  }
  return lines;
}

/** What came back, after the progress lines; nothing when no reply could be read (the error says why). */
export function summaryLines(r: Report): string[] {
  if (r.announce !== null) return [RULE, ...announceLines(r.announce, r.options)];
  if (r.scrape !== null) return [RULE, ...scrapeLines(r.scrape, r.options.hashes)];
  return [];
}

function announceLines(a: AnnounceInfo, o: QueryOptions): string[] {
  const lines: string[] = [];
  const add = (label: string, value: string | number | null, unit = '') => {
    if (value !== null) lines.push(line(label, `${typeof value === 'string' ? printable(value) : value}${unit}`));
  };
  add('Failure', a.failure);
  add('Warning', a.warning);
  add('Interval', a.interval, ' s');
  add('Min interval', a.minInterval, ' s');
  add('Seeds', a.seeds);
  add('Leechers', a.leechers);
  add('Downloaded', a.downloaded);
  add('External IP', a.externalIp);
  add('Tracker ID', a.trackerId);
  if (a.failure !== null) return lines;
  add('IPv4 peers', `${a.ipv4Peers}`, a.ipv4Bytes > 0 ? ` (${a.ipv4Bytes} bytes)` : '');
  add('IPv6 peers', `${a.ipv6Peers}`, a.ipv6Bytes > 0 ? ` (${a.ipv6Bytes} bytes)` : '');
  const extra = a.peers.length > o.numWant ? ', more than asked for' : '';
  add('Peers', `${a.peers.length} of ${o.numWant} wanted${extra}`);
  if (o.showPeers && a.peers.length > 0) {
    lines.push(RULE);
    a.peers.forEach((p, i) => {
      const id = p.peerId === null ? '' : `  peer id ${p.peerId}`;
      lines.push(`${String(i + 1).padStart(5)}  ${printable(formatHostPort(p.ip, p.port)).padEnd(47)} ${p.type}${id}`);
    });
  }
  return lines;
}

function scrapeLines(s: ScrapeInfo, asked: Uint8Array[]): string[] {
  const lines: string[] = [];
  if (s.failure !== null) lines.push(line('Failure', printable(s.failure)));
  if (s.minRequestInterval !== null) lines.push(line('Min interval', `${s.minRequestInterval} s between scrapes`));
  if (s.failure !== null) return lines;
  lines.push(line('Torrents', `${s.torrents.length}`));
  const named = s.torrents.some((t) => t.name !== null);
  const row = (hash: string, seeds: string, leechers: string, downloaded: string, name: string) =>
    `  ${hash.padEnd(40)}  ${seeds.padStart(8)}  ${leechers.padStart(8)}  ${downloaded.padStart(10)}${named ? `  ${name}` : ''}`;
  const returned = new Set(s.torrents.map((t) => t.infoHash));
  const missing = asked.map(hex).filter((h) => !returned.has(h));
  if (s.torrents.length > 0 || missing.length > 0) {
    lines.push(RULE, row('Info hash', 'Seeds', 'Leechers', 'Downloaded', 'Name'));
    for (const t of s.torrents) {
      const downloaded = t.downloaded === null ? '-' : `${t.downloaded}`;
      lines.push(row(t.infoHash, `${t.complete}`, `${t.incomplete}`, downloaded, printable(t.name ?? '')).trimEnd());
    }
    for (const h of missing) lines.push(`  ${h}  not in the reply`);
  }
  return lines;
}

/** The JSON object: every field present, null when unknown. */
export function jsonReport(r: Report): Record<string, unknown> {
  const o = r.options;
  const e = r.exchange;
  const userAgent = o.tracker.protocol === 'udp' ? null : o.userAgent;
  const common = {
    ok: r.error === null,
    error: r.error,
    action: o.mode,
    protocol: o.tracker.protocol,
    tracker: o.tracker.href,
    url: e.url,
    redirects: e.redirects,
    address: e.address,
    tls: e.tls,
    status: e.status,
    bytes: e.bytes,
    response_time_ms: e.timeMs,
  };
  if (o.mode !== 'announce') {
    const s = r.scrape;
    return {
      ...common,
      request: { info_hashes: o.hashes.map(hex), user_agent: userAgent },
      failure_reason: s?.failure ?? null,
      min_request_interval: s?.minRequestInterval ?? null,
      torrent_count: s?.torrents.length ?? null,
      torrents: (s?.torrents ?? []).map((t) => ({
        info_hash: t.infoHash,
        complete: t.complete,
        incomplete: t.incomplete,
        downloaded: t.downloaded,
        name: t.name,
      })),
    };
  }
  const a = r.announce;
  return {
    ...common,
    request: {
      info_hash: hex(o.hashes[0]),
      peer_id: hex(o.peerId),
      port: o.port,
      event: o.event,
      left: o.left,
      num_want: o.numWant,
      user_agent: userAgent,
    },
    failure_reason: a?.failure ?? null,
    warning: a?.warning ?? null,
    interval: a?.interval ?? null,
    min_interval: a?.minInterval ?? null,
    seeds: a?.seeds ?? null,
    leechers: a?.leechers ?? null,
    downloaded: a?.downloaded ?? null,
    external_ip: a?.externalIp ?? null,
    tracker_id: a?.trackerId ?? null,
    ipv4_peers: a?.ipv4Peers ?? null,
    ipv4_bytes: a?.ipv4Bytes ?? null,
    ipv6_peers: a?.ipv6Peers ?? null,
    ipv6_bytes: a?.ipv6Bytes ?? null,
    peers: (a?.peers ?? []).map((p) => ({ ip: p.ip, port: p.port, type: p.type, peer_id: p.peerId })),
  };
}
