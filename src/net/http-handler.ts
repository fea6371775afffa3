// Routes one parsed HTTP request to announce, scrape or full scrape and builds the whole response (head and body)
// as one buffer, so it leaves in one write. Independent of sockets: the server hands it bytes and a client address.
//
// Announce and scrape responses are built in place, head and body, without a copy: in the caller's output buffer (the
// native server's reply slot), or else in one reused buffer of the handler's, of which the response is a view. The
// body goes after room for the head of a typical body, and moves only when its own length has more or fewer digits.
// The net server tells the handler when a socket kept a response instead of taking it at once (responseRetained),
// and only then is a new buffer made.

import { createAnnounceRequest } from '../protocol/announce.ts';
import { BencodeWriter } from '../protocol/bencode.ts';
import { compareHashRecords, sortHashRecords } from '../protocol/hash-records.ts';
import { createScrapeHashes, parseAnnounceParams, parseScrapeParams } from '../protocol/http-params.ts';
import {
  SCRAPE_ENTRY_MAX_SIZE,
  type ScrapeEntry,
  writeAnnounce,
  writeFailure,
  writeRetryLater,
  writeScrapeEnd,
  writeScrapeEntry,
  writeScrapeStart,
} from '../protocol/http-replies.ts';
import {
  createRequestHead,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  parseRequestHead,
  type RequestHead,
  responseHeadSize,
  writeResponseHead,
} from '../protocol/http-request.ts';
import type { NetworkList } from '../protocol/networks.ts';
import { ascii, bytesEqual } from '../protocol/query.ts';
import { C, type Counters } from '../stats/counters.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import type { ClientAddressResolver } from '../tracker/client-address.ts';
import type { FullScrape } from '../tracker/full-scrape.ts';
import { KIND_ANNOUNCE, KIND_SCRAPE } from '../tracker/rate-limit.ts';
import {
  PEERS_BOTH_FAMILIES,
  RATE_LIMITED_REASON,
  RATE_LIMITED_RETRY_MINUTES,
  type Tracker,
} from '../tracker/tracker.ts';

const PATH_ANNOUNCE = ascii('/announce');
const PATH_SCRAPE = ascii('/scrape');
const PATH_ROOT = ascii('/');
const PATH_METRICS = ascii('/metrics');
const TEXT = 'text/plain';
/** Room for a response head; bodies are measured. */
const HEAD_ROOM = 256;
/** A body length the place of a bencoded reply's body assumes for its head: announce replies of 100-999 bytes. */
const TYPICAL_BODY = 500;
/** The forms of an announce reply, for the reply cache (UDP's is 0). */
const REPLY_COMPACT = 1;
const REPLY_DICTIONARY = 2;
/** Bytes a peer can take in the dictionary model: ip text, peer id, port and the keys around them. */
const DICT_PEER_BYTES = 128;

export interface HttpOptions {
  maxScrapeHashes: number;
  fullScrape: boolean;
  /** The opentracker-style stats page's path, without its leading '/'. */
  statsPath: string;
  /** Where `GET /` redirects; '' answers 404. */
  redirectUrl: string;
  /** Take an announce's `ip=` as the peer's address. */
  ipFromQuery: boolean;
  /** `https://DOMAIN` to redirect every GET and HEAD to (301, the same target after it); '' serves them. */
  httpsRedirect: string;
}

/** What the stats page (src/stats/modes.ts) answers. */
export interface StatsReply {
  status: number;
  contentType: string;
  body: Buffer;
  /** The body is gzip-compressed. */
  gzip: boolean;
}

/** The parts of the handler that are not announce and scrape. */
export interface HttpServices {
  stats: { respond(query: string, acceptsGzip: boolean): Promise<StatsReply> };
  metrics: { contentType: string; render(): Promise<string> };
  /** Who may read /stats and /metrics. */
  statsNetworks: NetworkList;
  clientAddress: ClientAddressResolver;
}

/** What answer() decided for the request at an offset; one reused object per caller. */
export interface Answer {
  /**
   * The response, a promise of it (full scrape, stats), or null when the head is not complete yet. When the caller
   * gave an output buffer and the response was built there, this is that buffer, and `inPlaceEnd` says where it ends.
   */
  response: Uint8Array | Promise<Buffer> | null;
  /** The response lies in the caller's output buffer, from the offset it gave to this one; else -1. */
  inPlaceEnd: number;
  /** Where the next request starts. */
  next: number;
  /** Close the connection after this response. */
  close: boolean;
  /** A bug caught while answering (parsers are total), for the server to log; the response is then a 500. */
  error: unknown;
}

export function createAnswer(): Answer {
  return { response: null, inPlaceEnd: -1, next: 0, close: false, error: null };
}

/** The client of a request: its family and 4 or 16 address bytes. */
export interface HttpClient {
  family: number;
  addr: Uint8Array;
}

export class HttpHandler {
  private readonly tracker: Tracker;
  private readonly fullScrape: FullScrape;
  private readonly options: HttpOptions;
  private readonly services: HttpServices | null;
  private readonly pathStats: Uint8Array;
  private readonly req = createAnnounceRequest();
  private readonly scrapeHashes;
  /** Where announce and scrape responses are built; see the file comment. */
  private response: Buffer;
  private readonly body: BencodeWriter;
  /** Where the response being built goes (the caller's output buffer, or `response`) and from which offset. */
  private out: Uint8Array;
  private outAt = 0;
  /** Where the body of the bencoded response being built starts in `out`, and the head it is for. */
  private bodyStart = 0;
  private keepAlive = true;
  private extra = '';
  private readonly entry: ScrapeEntry = { complete: 0, downloaded: 0, downloaders: 0, incomplete: 0 };
  /** Scrape hashes by index in ascending byte order. */
  private readonly order: Uint32Array;
  private readonly head = createRequestHead();
  /** The address an announce claims with `ip=` (--ip-from-query). */
  private readonly claimed: HttpClient = { family: FAMILY_V4, addr: new Uint8Array(0) };

  /** `services`: null serves announce and scrape only (tests, benchmarks). */
  constructor(tracker: Tracker, fullScrape: FullScrape, options: HttpOptions, services: HttpServices | null = null) {
    this.tracker = tracker;
    this.fullScrape = fullScrape;
    this.options = options;
    this.services = services;
    this.pathStats = ascii(`/${options.statsPath}`);
    this.scrapeHashes = createScrapeHashes(options.maxScrapeHashes);
    this.order = new Uint32Array(options.maxScrapeHashes);
    const maxPeers = tracker.options.maxPeers;
    const bodyMax = Math.max(1024 + maxPeers * DICT_PEER_BYTES, 256 + options.maxScrapeHashes * SCRAPE_ENTRY_MAX_SIZE);
    this.maxResponseSize = HEAD_ROOM + bodyMax;
    this.response = Buffer.alloc(this.maxResponseSize);
    this.out = this.response;
    this.body = new BencodeWriter(this.response);
  }

  /** The most bytes an announce or scrape response takes: the room answer() needs in an output buffer. */
  readonly maxResponseSize: number;

  /** The tracker's counters, for the servers to count connections. */
  get counters(): Counters {
    return this.tracker.counters;
  }

  /** The last response is still held by a socket (its write did not complete at once): build the next elsewhere. */
  responseRetained(): void {
    this.response = Buffer.allocUnsafe(this.response.length);
  }

  /**
   * Answers the request that starts at `data[offset]` (bytes up to `end`), for both HTTP servers: an oversized or
   * malformed head gets its error and the connection closed, a request its response. A head not complete within
   * `maxHeadBytes` can only complete beyond them, so it is refused then (431) rather than buffered further.
   * With `output`, which must have `maxResponseSize` bytes from `outputAt`, announce and scrape responses are built
   * there (see Answer.inPlaceEnd); other responses are buffers of their own.
   */
  answer(
    data: Buffer,
    offset: number,
    end: number,
    client: HttpClient,
    maxHeadBytes: number,
    out: Answer,
    output: Uint8Array | null = null,
    outputAt = 0,
  ): Answer {
    const head = this.head;
    const status = parseRequestHead(data, offset, end, head);
    this.out = output ?? this.response;
    this.outAt = output === null ? 0 : outputAt;
    out.inPlaceEnd = -1;
    out.error = null;
    out.next = end;
    out.close = true;
    if (status === HEAD_INCOMPLETE) {
      out.response = end - offset < maxHeadBytes ? null : this.plain(431, 'request head too large\n', null);
    } else if (head.headEnd - offset > maxHeadBytes) {
      out.response = this.plain(431, 'request head too large\n', null);
    } else if (status === HEAD_ERROR) {
      out.response = this.plain(head.errorStatus, `${head.errorReason}\n`, null);
    } else {
      out.next = head.headEnd;
      out.close = !head.keepAlive;
      try {
        const response = this.handle(data, head, client);
        if (response === this.out && output !== null) {
          out.inPlaceEnd = this.body.pos;
          out.response = output;
        } else {
          out.response = response === this.out ? this.out.subarray(this.outAt, this.body.pos) : response;
        }
      } catch (err) {
        out.error = err;
        out.response = this.plain(500, 'internal error\n', null);
        out.close = true;
      }
    }
    return out;
  }

  /** The response to `head` (parsed from `buf`): ready bytes, or a promise of them for a full scrape. */
  private handle(buf: Buffer, head: RequestHead, client: HttpClient): Uint8Array | Promise<Buffer> {
    if (this.options.httpsRedirect !== '' && (head.isGet || head.isHead)) {
      // The parser admits only visible ASCII in a target that starts with '/': it cannot end the header or the host.
      const target = buf.toString('latin1', head.targetStart, head.targetEnd);
      return this.plain(301, '', head, `Location: ${this.options.httpsRedirect}${target}\r\n`);
    }
    if (!head.isGet) return this.plain(405, head.isHead ? '' : 'only GET is supported\n', head, 'Allow: GET\r\n');
    const { targetStart, pathEnd } = head;
    if (bytesEqual(buf, targetStart, pathEnd, PATH_ANNOUNCE)) return this.announce(buf, head, client);
    if (bytesEqual(buf, targetStart, pathEnd, PATH_SCRAPE)) return this.scrape(buf, head, client);
    const services = this.services;
    if (services !== null && bytesEqual(buf, targetStart, pathEnd, this.pathStats)) {
      if (!this.mayReadStats(client, services)) return this.plain(403, 'forbidden\n', head);
      const query = Buffer.from(buf.subarray(head.queryStart, head.targetEnd)).toString('latin1');
      return this.stats(services, query, head);
    }
    if (services !== null && bytesEqual(buf, targetStart, pathEnd, PATH_METRICS)) {
      if (!this.mayReadStats(client, services)) return this.plain(403, 'forbidden\n', head);
      return this.metrics(services, head);
    }
    if (this.options.redirectUrl !== '' && bytesEqual(buf, targetStart, pathEnd, PATH_ROOT)) {
      return this.plain(302, '', head, `Location: ${this.options.redirectUrl}\r\n`);
    }
    return this.plain(404, 'not found\n', head);
  }

  private mayReadStats(client: HttpClient, services: HttpServices): boolean {
    return services.statsNetworks.contains(client.addr, 0, client.family === FAMILY_V4 ? 4 : 16);
  }

  private async stats(services: HttpServices, query: string, head: RequestHead): Promise<Buffer> {
    const { keepAlive, acceptsGzip } = head;
    this.tracker.catchUp();
    const reply = await services.stats.respond(query, acceptsGzip);
    if (reply.status !== 200) this.tracker.counters.httpStatus(reply.status);
    const extra = `${reply.gzip ? 'Content-Encoding: gzip\r\n' : ''}Vary: Accept-Encoding\r\n${keepAliveHeader(head)}`;
    return this.framed(reply.status, reply.contentType, reply.body, keepAlive && reply.status < 500, extra);
  }

  private async metrics(services: HttpServices, head: RequestHead): Promise<Buffer> {
    this.tracker.catchUp();
    const body = Buffer.from(await services.metrics.render(), 'utf8');
    return this.framed(200, services.metrics.contentType, body, head.keepAlive, keepAliveHeader(head));
  }

  /** A whole response around `body`, in a new buffer. */
  private framed(status: number, type: string, body: Buffer, keepAlive: boolean, extra: string): Buffer {
    const out = Buffer.allocUnsafe(HEAD_ROOM + type.length + extra.length + body.length);
    const at = writeResponseHead(out, 0, status, type, body.length, keepAlive, extra);
    body.copy(out, at);
    return out.subarray(0, at + body.length);
  }

  /** A response with a plain-text body, for errors outside the tracker protocol. */
  plain(status: number, text: string, head: RequestHead | null, extra = ''): Buffer {
    this.tracker.counters.httpStatus(status);
    const keepAlive = (head?.keepAlive ?? false) && status < 500;
    const out = Buffer.allocUnsafe(HEAD_ROOM + extra.length + text.length);
    let at = writeResponseHead(out, 0, status, TEXT, text.length, keepAlive, extra + keepAliveHeader(head));
    at += out.write(text, at, 'latin1');
    return out.subarray(0, at);
  }

  private announce(buf: Buffer, head: RequestHead, client: HttpClient): Uint8Array {
    const req = this.req;
    const tracker = this.tracker;
    let peer = this.clientOf(buf, head, client);
    if (!tracker.admit(KIND_ANNOUNCE, peer.family, peer.addr)) return this.rateLimited(head);
    const w = this.beginBody(head);
    const failure = parseAnnounceParams(buf, head.queryStart, head.targetEnd, req);
    if (failure !== null) return this.failure(failure, head);
    if (this.options.ipFromQuery && req.ipLength !== 0) {
      if (req.ipLength < 0) return this.failure('invalid ip: it must be an IPv4 or IPv6 address', head);
      peer = this.claimed;
      peer.family = req.ipLength === 4 ? FAMILY_V4 : FAMILY_V6;
      peer.addr = req.ip;
    }
    const variant = req.compact ? REPLY_COMPACT : REPLY_DICTIONARY;
    const cached = tracker.cachedReply(req, peer.family, peer.addr, variant);
    if (cached !== null) {
      tracker.counters.values[C.tcpAnnounces]++;
      w.raw(cached);
      return this.bencoded();
    }
    const reply = tracker.announce(req, peer.family, peer.addr, PEERS_BOTH_FAMILIES, tracker.options.maxPeers);
    if (reply === null) {
      writeFailure(w, tracker.refusal);
      return this.bencoded();
    }
    tracker.counters.values[C.tcpAnnounces]++;
    writeAnnounce(w, reply, req.compact);
    tracker.keepReply(req, peer.family, peer.addr, variant, this.out, this.bodyStart, w.pos);
    return this.bencoded();
  }

  private scrape(buf: Buffer, head: RequestHead, client: HttpClient): Uint8Array | Promise<Buffer> {
    const peer = this.clientOf(buf, head, client);
    if (!this.tracker.admit(KIND_SCRAPE, peer.family, peer.addr)) return this.rateLimited(head);
    const w = this.beginBody(head);
    const hashes = this.scrapeHashes;
    const max = this.options.maxScrapeHashes;
    const failure = parseScrapeParams(buf, head.queryStart, head.targetEnd, max, hashes);
    if (failure !== null) return this.failure(failure, head);
    if (hashes.count === 0) {
      if (this.options.fullScrape) return this.full(head);
      writeFailure(w, 'full scrape is disabled on this tracker: give at least one info_hash');
      return this.bencoded();
    }
    this.tracker.counters.values[C.tcpScrapes]++;
    // Canonical bencode: the `files` keys in ascending byte order, each once.
    const h = hashes.hashes;
    const order = this.order;
    const count = hashes.count;
    for (let k = 0; k < count; k++) order[k] = k;
    sortHashRecords(h, order, 0, count);
    writeScrapeStart(w);
    for (let k = 0; k < count; k++) {
      const i = order[k];
      if (k > 0 && compareHashRecords(h, order[k - 1], i) === 0) continue;
      // A torrent the access rules refuse is left out, as opentracker does.
      if (this.tracker.scrape(h, i * 20, this.entry)) writeScrapeEntry(w, h, i * 20, this.entry);
    }
    writeScrapeEnd(w, this.tracker.options.minInterval);
    return this.bencoded();
  }

  private async full(head: RequestHead): Promise<Buffer> {
    const { keepAlive, acceptsGzip } = head;
    const extraHead = keepAliveHeader(head);
    this.tracker.catchUp();
    const body = await this.fullScrape.body();
    const bytes = acceptsGzip ? await body.gzipped() : body.plain;
    const counts = this.tracker.counters.values;
    counts[C.fullScrapes]++;
    counts[C.fullScrapeBytes] += bytes.length;
    const extra = `${acceptsGzip ? 'Content-Encoding: gzip\r\n' : ''}Vary: Accept-Encoding\r\n${extraHead}`;
    const out = Buffer.allocUnsafe(HEAD_ROOM + extra.length + bytes.length);
    const at = writeResponseHead(out, 0, 200, TEXT, bytes.length, keepAlive, extra);
    bytes.copy(out, at);
    return out.subarray(0, at + bytes.length);
  }

  /** Who sent the request: the connection's address, or the client a trusted proxy names. */
  private clientOf(buf: Buffer, head: RequestHead, client: HttpClient): HttpClient {
    return this.services === null ? client : this.services.clientAddress.resolve(buf, head, client);
  }

  /** A request over the rate limit: a failure reason and when to come back (BEP 31), and no other work. */
  private rateLimited(head: RequestHead): Uint8Array {
    writeRetryLater(this.beginBody(head), RATE_LIMITED_REASON, RATE_LIMITED_RETRY_MINUTES);
    return this.bencoded();
  }

  /** A request refused for a bad parameter: a failure reason, as BEP 3 asks. */
  private failure(reason: string, head: RequestHead): Uint8Array {
    this.tracker.counters.values[C.badParameter]++;
    writeFailure(this.beginBody(head), reason);
    return this.bencoded();
  }

  /** Places the body writer for a bencoded 200 response to `head`, after room for a head of a typical body's. */
  private beginBody(head: RequestHead): BencodeWriter {
    const out = this.out;
    if (this.body.buf !== out) this.body.setBuffer(out);
    this.keepAlive = head.keepAlive;
    this.extra = keepAliveHeader(head);
    this.bodyStart = this.outAt + responseHeadSize(200, TEXT, TYPICAL_BODY, this.keepAlive, this.extra);
    return this.body.reset(this.bodyStart);
  }

  /**
   * Writes the head before the bencoded body just written (moving the body when its head is longer or shorter than
   * the one assumed), so that the response is `out` from `outAt` to `body.pos`; returns `out`.
   */
  private bencoded(): Uint8Array {
    const out = this.out;
    const w = this.body;
    const length = w.pos - this.bodyStart;
    const start = this.outAt + responseHeadSize(200, TEXT, length, this.keepAlive, this.extra);
    if (start !== this.bodyStart) {
      out.copyWithin(start, this.bodyStart, w.pos);
      w.pos = start + length;
    }
    writeResponseHead(out, this.outAt, 200, TEXT, length, this.keepAlive, this.extra);
    return out;
  }
}

/** HTTP/1.0 clients keep the connection only when the reply says so. */
function keepAliveHeader(head: RequestHead | null): string {
  return head !== null && head.version === 10 && head.keepAlive ? 'Connection: keep-alive\r\n' : '';
}
