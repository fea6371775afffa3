// The /stats page in opentracker's formats, so that MRTG configurations and the scripts written for opentracker
// (WWW::Opentracker::Stats and the like) keep working against swarmd: `?mode=…&format=…`, the 4-line MRTG replies,
// the text tables, the XML document, the full scrape in the `tpbs` formats and the statedump.
//
// The title lines keep the word `opentracker` exactly where opentracker prints it: scripts match on those lines.
// Where opentracker prints something broken (dead counters, wrong labels, a hang, a 500) swarmd prints the real
// figures in the same layout; each such place says so.
//
// Modes that walk every torrent yield to the event loop every few thousand torrents, so announces keep flowing.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { formatIp } from '../protocol/ip.ts';
import { DECODE_MALFORMED, DECODE_TOO_LONG, percentDecode, scanQuery } from '../protocol/query.ts';
import { FAMILY_V4, FAMILY_V6, type SwarmStore } from '../swarm/store.ts';
import type { Clock } from '../tracker/clock.ts';
import { encodeStatedump, type FullScrape, SCRAPE_FORMATS, type ScrapeFormat } from '../tracker/full-scrape.ts';
import { C, type Counters, HTTP_STATUSES, RENEW_MINUTES } from './counters.ts';

const gzip = promisify(gzipCallback);

export interface StatsContext {
  store: SwarmStore;
  clock: Clock;
  counters: Counters;
  fullScrape: FullScrape;
  /** Date.now() when the tracker started. */
  startedAt: number;
  /** Name and version, e.g. `swarmd 0.1.0`. */
  version: string;
}

export interface StatsReply {
  status: number;
  contentType: string;
  body: Buffer;
  /** The body is gzip-compressed: send `Content-Encoding: gzip`. */
  gzip: boolean;
}

export const STATS_MODES = [
  'peer',
  'torr',
  'conn',
  'tcp4',
  'udp4',
  'scrp',
  'fscr',
  'completed',
  'syncs',
  'herr',
  'renew',
  'version',
  'top10',
  'top100',
  's24s',
  'busy',
  'everything',
  'tpbs',
  'statedump',
] as const;
export type StatsMode = (typeof STATS_MODES)[number];

export interface StatsRequest {
  mode: StatsMode;
  /** `format`, used by `tpbs` only; null when absent. */
  format: ScrapeFormat | null;
}

const TEXT = 'text/plain';
const OCTETS = 'application/octet-stream';
const XML = 'text/xml; charset=utf-8';

/** Torrents, or peers, handled between two yields to the event loop. */
const SLICE = 16384;
/** Entries in the top-N network tables (as opentracker). */
const NETWORK_ROWS = 128;

/**
 * HTTP error counters as `herr` (a three-character tag) and `everything` (a name) label them. opentracker's tag
 * and name where the meaning is the same (302, 400 malformed request, 403 refused by address, 404, 500), so that
 * scripts reading them keep working; the statuses opentracker never sends get their own.
 */
const HTTP_ERROR_LABELS: Record<(typeof HTTP_STATUSES)[number], readonly [string, string]> = {
  302: ['RED', 'Redirect'],
  400: ['...', 'Parse Error'],
  403: ['IP ', 'Access Denied'],
  404: ['INV', 'Not found'],
  405: ['MTH', 'Method Not Allowed'],
  408: ['TMO', 'Request Timeout'],
  431: ['HDR', 'Request Header Fields Too Large'],
  500: ['SRV', 'Internal Server Error'],
  503: ['BSY', 'Service Unavailable'],
  505: ['VER', 'HTTP Version Not Supported'],
};
/** Bad parameters are refused with HTTP 200 and a bencoded failure reason (opentracker answers 400 "PAR"). */
const BAD_PARAMETER_LABELS = ['200 PAR', '200 Invalid Parameter'] as const;

export class StatsPage {
  private readonly ctx: StatsContext;

  constructor(ctx: StatsContext) {
    this.ctx = ctx;
  }

  /**
   * Answers `/stats?<query>` (`query` still percent-encoded, '' for none). Any query gets a reply: a bad one a 400
   * with a one-line reason. `acceptsGzip`: the client accepts gzip, for `tpbs` and `statedump`.
   */
  async respond(query: string, acceptsGzip: boolean): Promise<StatsReply> {
    const req = parseStatsQuery(query);
    if (typeof req === 'string') return reply(400, TEXT, `${req}\n`);
    const { store, counters } = this.ctx;
    const t = this.uptime();
    const total = (index: number) => counters.total(index);
    switch (req.mode) {
      case 'peer': {
        const s = await tallySwarm(store);
        return text(`${s.peers}\n${s.seeders}\nopentracker serving ${s.torrents} torrents\nopentracker`);
      }
      case 'torr':
        return text(`${store.torrents}\n0\nopentracker serving ${store.torrents} torrents\nopentracker`);
      case 'conn': {
        const conns = total(C.tcpAccepts) + total(C.udpPackets);
        const ok = total(C.tcpAnnounces) + total(C.udpAnnounces) + total(C.udpConnects);
        return mrtg(conns, ok, t, `opentracker connections, ${rate(conns, t)} conns/s :: ${rate(ok, t)} success/s.`);
      }
      case 'tcp4': {
        const conns = total(C.tcpAccepts);
        const ok = total(C.tcpAnnounces);
        return mrtg(conns, ok, t, `opentracker tcp4 stats, ${rate(conns, t)} conns/s :: ${rate(ok, t)} success/s.`);
      }
      case 'udp4': {
        const packets = total(C.udpPackets);
        const ok = total(C.udpAnnounces) + total(C.udpConnects);
        return mrtg(packets, ok, t, `opentracker udp4 stats, ${rate(packets, t)} conns/s :: ${rate(ok, t)} success/s.`);
      }
      case 'scrp': {
        const tcp = total(C.tcpScrapes);
        const udp = total(C.udpScrapes);
        return mrtg(tcp, udp, t, `opentracker scrape stats, ${rate(tcp + udp, t)} scrape/s (tcp and udp)`);
      }
      case 'fscr': {
        // opentracker's counters here are never bumped (always 0) and the first is scaled by 1000; these are the
        // full scrapes answered (/scrape and tpbs) and the bytes sent for them, unscaled.
        const scrapes = total(C.fullScrapes);
        const bytes = total(C.fullScrapeBytes);
        return mrtg(
          scrapes,
          bytes,
          t,
          `opentracker full scrape stats, ${rate(scrapes, t)} conns/s :: ${rate(bytes, t)} bytes/s.`,
        );
      }
      case 'completed': {
        const completed = total(C.completed);
        return mrtg(completed, 0, t, `opentracker, ${rate(completed, Math.floor(t / 3600))} completed/h.`);
      }
      case 'syncs': {
        // opentracker repeats the `conn` title here; this one describes the figure.
        const records = total(C.syncs);
        return mrtg(records, 0, t, `opentracker live sync stats, ${rate(records, t)} records/s.`);
      }
      case 'herr':
        return text(this.httpErrors());
      case 'renew': {
        let out = '';
        for (let m = 0; m < RENEW_MINUTES; m++) out += `${twoDigits(m)} ${counters.renewTotal(m)}\n`;
        return text(out);
      }
      case 'version':
        return text(`${this.ctx.version}\n`);
      case 'top10':
        return text(await topTorrents(store, 10));
      case 'top100':
        return text(await topTorrents(store, 100));
      case 's24s': {
        // opentracker's layout: IPv4 networks by peers at /28, then at /24.
        const by28 = await countNetworks(store, FAMILY_V4, 28);
        const by24 = await coarsen(by28, 4);
        return text((await networkTable(by28, FAMILY_V4, 28)) + (await networkTable(by24, FAMILY_V4, 24)));
      }
      case 'busy': {
        // opentracker answers 500 (its network log is compiled out); this is the s24s layout over IPv4 /24s and
        // IPv6 /48s, the networks a single operator usually holds.
        const v4 = await networkTable(await countNetworks(store, FAMILY_V4, 24), FAMILY_V4, 24);
        const v6 = await networkTable(await countNetworks(store, FAMILY_V6, 48), FAMILY_V6, 48);
        return text(v4 + v6);
      }
      case 'everything':
        return reply(200, XML, await this.everything(t));
      case 'tpbs':
        return this.tpbs(req.format ?? 'ben', acceptsGzip);
      case 'statedump':
        return this.statedump(acceptsGzip);
    }
  }

  /** Seconds since start. */
  private uptime(): number {
    return Math.max(0, Math.floor((Date.now() - this.ctx.startedAt) / 1000));
  }

  private httpErrors(): string {
    const counters = this.ctx.counters;
    let out = '';
    for (const status of HTTP_STATUSES) {
      out += `${status} ${HTTP_ERROR_LABELS[status][0]} ${counters.statusTotal(status)}\n`;
    }
    return `${out}${BAD_PARAMETER_LABELS[0]} ${counters.total(C.badParameter)}\n`;
  }

  /**
   * opentracker's XML document, two-space indentation, no final newline. Additions: `fullscrape` and `refused`, and
   * the HTTP error codes swarmd counts. `tracker_id` (opentracker's live-sync node id) and `mutex_stall` (swarmd has
   * no locks) are kept for the structure and are 0.
   */
  private async everything(uptime: number): Promise<string> {
    const { store, counters } = this.ctx;
    const total = (index: number) => counters.total(index);
    const s = await tallySwarm(store);
    const lines = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<stats>',
      '  <tracker_id>0</tracker_id>',
      `  <version>${escapeXml(this.ctx.version)}</version>`,
      `  <uptime>${uptime}</uptime>`,
      '  <torrents>',
      `    <count_mutex>${store.torrents}</count_mutex>`,
      `    <count_iterator>${s.torrents}</count_iterator>`,
      '  </torrents>',
      ...counted('peers', s.peers),
      ...counted('seeds', s.seeders),
      ...counted('completed', total(C.completed)),
      '  <fullscrape>',
      `    <count>${total(C.fullScrapes)}</count>`,
      `    <bytes>${total(C.fullScrapeBytes)}</bytes>`,
      '  </fullscrape>',
      ...counted('refused', total(C.refused)),
      '  <connections>',
      '    <tcp>',
      `      <accept>${total(C.tcpAccepts)}</accept>`,
      `      <announce>${total(C.tcpAnnounces)}</announce>`,
      `      <scrape>${total(C.tcpScrapes)}</scrape>`,
      '    </tcp>',
      '    <udp>',
      `      <overall>${total(C.udpPackets)}</overall>`,
      `      <connect>${total(C.udpConnects)}</connect>`,
      `      <announce>${total(C.udpAnnounces)}</announce>`,
      `      <scrape>${total(C.udpScrapes)}</scrape>`,
      `      <missmatch>${total(C.udpMismatch)}</missmatch>`,
      '    </udp>',
      '    <livesync>',
      `      <count>${total(C.syncs)}</count>`,
      '    </livesync>',
      '  </connections>',
      '  <debug>',
      '    <renew>',
    ];
    for (let m = 0; m < RENEW_MINUTES; m++) {
      lines.push(`      <count interval="${twoDigits(m)}">${counters.renewTotal(m)}</count>`);
    }
    lines.push('    </renew>', '    <http_error>');
    for (const status of HTTP_STATUSES) {
      const name = `${status} ${HTTP_ERROR_LABELS[status][1]}`;
      lines.push(`      <count code="${name}">${counters.statusTotal(status)}</count>`);
    }
    lines.push(`      <count code="${BAD_PARAMETER_LABELS[1]}">${total(C.badParameter)}</count>`);
    lines.push('    </http_error>', '    <mutex_stall>', '      <count>0</count>', '    </mutex_stall>');
    lines.push('  </debug>', '</stats>');
    return lines.join('\n');
  }

  /**
   * The full scrape in `format`; `ben` when none is given (opentracker leaves that request hanging). Compressed only
   * when the client accepts gzip (opentracker's Debian build always compresses it).
   */
  private async tpbs(format: ScrapeFormat, acceptsGzip: boolean): Promise<StatsReply> {
    const body = await this.ctx.fullScrape.body(format);
    const bytes = acceptsGzip ? await body.gzipped() : body.plain;
    const values = this.ctx.counters.values;
    values[C.fullScrapes]++;
    values[C.fullScrapeBytes] += bytes.length;
    return { status: 200, contentType: format === 'bin' ? OCTETS : TEXT, body: bytes, gzip: acceptsGzip };
  }

  /**
   * `HEX40:base:downloaded\n` per torrent in hash order, `base` the torrent's last announce in minutes since the
   * Unix epoch, as opentracker's `-l` reads it back. Compressed only when the client accepts gzip.
   */
  private async statedump(acceptsGzip: boolean): Promise<StatsReply> {
    const snap = await this.ctx.fullScrape.snapshot();
    const nowSeconds = Date.now() / 1000;
    const nowClock = this.ctx.clock.now;
    const plain = await encodeStatedump(snap, (lastActive) => Math.floor((nowSeconds - (nowClock - lastActive)) / 60));
    const body = acceptsGzip ? await gzip(plain) : plain;
    return { status: 200, contentType: TEXT, body, gzip: acceptsGzip };
  }
}

/** Parses a stats query; a string is the reason it is refused. */
export function parseStatsQuery(query: string): StatsRequest | string {
  const src = Buffer.from(query, 'latin1');
  let mode = 'peer';
  let format: string | null = null;
  let refusal: string | null = null;
  scanQuery(src, 0, src.length, (s, ks, ke, vs, ve) => {
    const key = decodeWord(s, ks, ke);
    if (key === null) refusal = 'malformed percent-escape in the query';
    // Upstream opentracker's guard: a stats URL pasted into a client as its announce URL.
    else if (key === 'info_hash') refusal = 'info_hash given: this is the stats page, not the announce URL';
    else if (key === 'mode' || key === 'format') {
      const value = decodeWord(s, vs, ve);
      if (value === null) refusal = 'malformed percent-escape in the query';
      else if (key === 'mode') mode = value;
      else format = value;
    }
    return refusal === null;
  });
  if (refusal !== null) return refusal;
  if (!isOneOf(STATS_MODES, mode)) return `unknown stats mode: use one of ${STATS_MODES.join(', ')}`;
  if (format !== null && !isOneOf(SCRAPE_FORMATS, format)) {
    return `unknown format: use one of ${SCRAPE_FORMATS.join(', ')}`;
  }
  return { mode, format };
}

/** Keys and values the page knows are short words; longer ones decode to a word that matches none. */
const WORD_MAX = 16;
const word = new Uint8Array(WORD_MAX);

/** Percent-decodes `src[start, end)`; null for a malformed escape. */
function decodeWord(src: Uint8Array, start: number, end: number): string | null {
  const n = percentDecode(src, start, end, word, 0, WORD_MAX);
  if (n === DECODE_MALFORMED) return null;
  if (n === DECODE_TOO_LONG) return '';
  return Buffer.from(word.buffer, 0, n).toString('latin1');
}

function isOneOf<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

function reply(status: number, contentType: string, body: string): StatsReply {
  return { status, contentType, body: Buffer.from(body, 'utf8'), gzip: false };
}

function text(body: string): StatsReply {
  return reply(200, TEXT, body);
}

/** opentracker's MRTG reply: two values, the uptime, and a title. */
function mrtg(a: number, b: number, uptime: number, title: string): StatsReply {
  return text(`${a}\n${b}\n${uptime} seconds (${Math.floor(uptime / 3600)} hours)\n${title}`);
}

/** Events per unit of time, whole, as opentracker computes them (a zero time counts as one). */
function rate(events: number, time: number): number {
  return Math.floor(events / (time > 0 ? time : 1));
}

function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

function counted(element: string, count: number): string[] {
  return [`  <${element}>`, `    <count>${count}</count>`, `  </${element}>`];
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Calls `visit` for every live torrent; `visit` returns the peers it went through, so slices weigh both. */
async function forEachTorrent(store: SwarmStore, visit: (tid: number) => number): Promise<void> {
  let work = 0;
  for (let tid = 0; tid < store.idLimit; tid++) {
    if (!store.isAlive(tid)) continue;
    work += 1 + visit(tid);
    if (work >= SLICE) {
      work = 0;
      await yieldToLoop();
    }
  }
}

export interface SwarmTally {
  /** Live torrents, counted by walking the table. */
  torrents: number;
  peers: number;
  /** Seeders (left = 0). */
  seeders: number;
  /** Per family (FAMILY_V4, FAMILY_V6): seeders, and everyone else (downloaders and partial seeds). */
  familySeeders: [number, number];
  familyLeechers: [number, number];
}

/** Counts torrents, and peers by family and state, walking the table in slices. */
export async function tallySwarm(store: SwarmStore): Promise<SwarmTally> {
  const s: SwarmTally = { torrents: 0, peers: 0, seeders: 0, familySeeders: [0, 0], familyLeechers: [0, 0] };
  await forEachTorrent(store, (tid) => {
    s.torrents++;
    for (let family = FAMILY_V4; family <= FAMILY_V6; family++) {
      const pool = store.pools[family];
      const leechers = pool.downloadersOf(tid) + pool.partialsOf(tid);
      s.familySeeders[family] += pool.countOf(tid) - leechers;
      s.familyLeechers[family] += leechers;
    }
    return 0;
  });
  s.seeders = s.familySeeders[FAMILY_V4] + s.familySeeders[FAMILY_V6];
  s.peers = s.seeders + s.familyLeechers[FAMILY_V4] + s.familyLeechers[FAMILY_V6];
  return s;
}

/**
 * The `size` largest positive values offered, each with a key of `keySize` bytes, largest first; equal values in
 * ascending key order, so that the output does not depend on where things sit in memory.
 */
class Top {
  readonly values: number[] = [];
  readonly keys: Buffer;
  private readonly size: number;
  private readonly keySize: number;

  constructor(size: number, keySize: number) {
    this.size = size;
    this.keySize = keySize;
    this.keys = Buffer.alloc(size * keySize);
  }

  /** Whether `value` could enter: a cheap test before the key is made. */
  admits(value: number): boolean {
    return value > 0 && (this.values.length < this.size || value >= this.values[this.size - 1]);
  }

  offer(value: number, key: Uint8Array): void {
    const { values, keys, keySize } = this;
    let pos = values.length;
    while (pos > 0 && (value > values[pos - 1] || (value === values[pos - 1] && this.keyBefore(key, pos - 1)))) pos--;
    if (pos >= this.size) return;
    values.splice(pos, 0, value);
    if (values.length > this.size) values.pop();
    keys.copyWithin((pos + 1) * keySize, pos * keySize, (values.length - 1) * keySize);
    keys.set(key.subarray(0, keySize), pos * keySize);
  }

  private keyBefore(key: Uint8Array, pos: number): boolean {
    const k = this.keySize;
    return Buffer.compare(key.subarray(0, k), this.keys.subarray(pos * k, pos * k + k)) < 0;
  }
}

/** opentracker's top-N table by peers, by seeders, then (as upstream added) by leechers; uppercase hex hashes. */
async function topTorrents(store: SwarmStore, n: number): Promise<string> {
  const tops = [new Top(n, 20), new Top(n, 20), new Top(n, 20)];
  const hash = Buffer.alloc(20);
  let hashOf = -1;
  const offer = (top: Top, value: number, tid: number) => {
    if (!top.admits(value)) return;
    if (hashOf !== tid) store.copyHash(tid, hash, 0);
    hashOf = tid;
    top.offer(value, hash);
  };
  await forEachTorrent(store, (tid) => {
    const seeders = store.complete(tid);
    const leechers = store.incomplete(tid);
    offer(tops[0], seeders + leechers, tid);
    offer(tops[1], seeders, tid);
    offer(tops[2], leechers, tid);
    return 0;
  });
  let out = '';
  for (const [k, by] of ['peers', 'seeds', 'leechers'].entries()) {
    out += `Top ${n} torrents by ${by}:\n`;
    const { values, keys } = tops[k];
    for (let r = 0; r < values.length; r++) {
      out += `\t${values[r]}\t${keys.toString('hex', r * 20, r * 20 + 20).toUpperCase()}\n`;
    }
  }
  return out;
}

/**
 * Peers per network of `bits` leading bits (at most 32 for IPv4, 48 for IPv6), a peer counted once per torrent it
 * is in. A network is its prefix as a number.
 */
async function countNetworks(store: SwarmStore, family: number, bits: number): Promise<Map<number, number>> {
  const pool = store.pools[family];
  const counts = new Map<number, number>();
  const divisor = 2 ** ((family === FAMILY_V4 ? 32 : 48) - bits);
  await forEachTorrent(store, (tid) => {
    const n = pool.countOf(tid);
    const { endpoints, stride } = pool;
    for (let slot = pool.blockStartOf(tid), end = slot + n; slot < end; slot++) {
      const at = slot * stride;
      const high = family === FAMILY_V4 ? 0 : ((endpoints[at] << 8) | endpoints[at + 1]) * 2 ** 32;
      const low = family === FAMILY_V4 ? at : at + 2;
      const word = ((endpoints[low] << 24) | (endpoints[low + 1] << 16) | (endpoints[low + 2] << 8)) >>> 0;
      const network = Math.floor((high + word + endpoints[low + 3]) / divisor);
      counts.set(network, (counts.get(network) ?? 0) + 1);
    }
    return n;
  });
  return counts;
}

/** The same counts over networks `drop` bits shorter. */
async function coarsen(counts: Map<number, number>, drop: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const divisor = 2 ** drop;
  let seen = 0;
  for (const [network, n] of counts) {
    const wider = Math.floor(network / divisor);
    out.set(wider, (out.get(wider) ?? 0) + n);
    if (++seen % SLICE === 0) await yieldToLoop();
  }
  return out;
}

/** opentracker's network table: a title, the busiest NETWORK_ROWS networks as `%08d: address`, a blank line. */
async function networkTable(counts: Map<number, number>, family: number, bits: number): Promise<string> {
  const size = family === FAMILY_V4 ? 4 : 16;
  const top = new Top(NETWORK_ROWS, size);
  const address = Buffer.alloc(16);
  const scale = 2 ** ((family === FAMILY_V4 ? 32 : 48) - bits);
  let seen = 0;
  for (const [network, n] of counts) {
    if (top.admits(n)) {
      // The prefix back to address bytes: 32 bits for IPv4, 48 (then zeros) for IPv6.
      const value = network * scale;
      if (family === FAMILY_V4) address.writeUInt32BE(value, 0);
      else address.writeUIntBE(value, 0, 6);
      top.offer(n, address);
    }
    if (++seen % SLICE === 0) await yieldToLoop();
  }
  let out = `Networks, limit /${bits}:\n`;
  for (let r = 0; r < top.values.length; r++) {
    out += `${String(top.values[r]).padStart(8, '0')}: ${formatIp(top.keys, r * size, size)}\n`;
  }
  return `${out}\n`;
}
