// The soak's honest clients: BEP 15 over UDP and announces and scrapes over HTTP and HTTPS, at a fixed rate each
// (open loop: a slow reply does not slow the sending), from many loopback source addresses so that each looks like a
// distinct, well-behaved client to a per-address rate limiter. Every reply is checked; a request counts as a success
// only if a valid reply came back within the timeout. Latency is from sending the request (HTTP: from opening the
// connection, as a real client opens one per announce) to the whole reply.

import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { type BDict, decode } from '../../src/protocol/bencode.ts';
import { parseResponse } from '../../test/helpers/swarmd.ts';
import { type OutcomeSummary, Outcomes, type WindowFigures } from './outcomes.ts';

export type Protocol = 'udp' | 'http' | 'https';
export type Phase = 'baseline' | 'flood';

export interface HonestOptions {
  /** Where the tracker listens: HTTP and UDP on `port`, HTTPS on `httpsPort` (null: no HTTPS). */
  port: number;
  httpsPort: number | null;
  /** The CA certificate that signed the tracker's HTTPS certificate. */
  ca: Buffer | null;
  /** IPv4 source addresses (e.g. 127.0.1.1…); IPv4 requests are spread over them evenly. */
  sources4: string[];
  /** Requests per second from IPv4, and from ::1 (0: no IPv6). */
  rate4: number;
  rate6: number;
  /** Shares of the requests by protocol, e.g. { udp: 6, http: 3, https: 1 }. */
  mix: Record<Protocol, number>;
  /** Distinct peers (ports) per source address, and torrents they spread over. */
  peersPerSource: number;
  torrents: number;
  timeoutMs: number;
  /** performance.now() at the start of the run, and the width of the series' windows. */
  origin: number;
  windowSeconds: number;
}

export interface StreamReport {
  protocol: Protocol;
  family: 'ipv4' | 'ipv6';
  baseline: OutcomeSummary;
  flood: OutcomeSummary;
  /** Under the flood, only the seconds in which nothing but the soak used the machine. */
  floodQuiet: OutcomeSummary;
  series: WindowFigures[];
}

const EVENT_NONE = 0;
const EVENT_COMPLETED = 1;
const EVENT_STARTED = 2;
const EVENT_STOPPED = 3;
const HTTP_EVENTS = ['', 'completed', 'started', 'stopped'];
const UDP_MAGIC = 0x41727101980n;
/** A client renews its connection id this often (BEP 15: an id is good for two minutes). */
const CONNECTION_ID_RENEW_MS = 60_000;
const SCRAPE_SHARE = 0.1;
const COMPLETE_SHARE = 0.03;
const STOP_SHARE = 0.01;
const SEEDER_SHARE = 0.25;
const TICK_MS = 5;
/** A stream that fell further behind than this (the event loop stalled) skips the backlog instead of bursting it. */
const MAX_BACKLOG_S = 0.2;

interface Peer {
  source: string;
  port: number;
  peerId: Buffer;
  hash: Buffer;
  started: boolean;
  seeder: boolean;
}

interface Stream {
  protocol: Protocol;
  family: 'ipv4' | 'ipv6';
  rate: number;
  peers: Peer[];
  issued: number;
  skipped: number;
  outcomes: Record<Phase, Outcomes>;
  series: Outcomes;
}

interface PendingUdp {
  sentAt: number;
  action: 'connect' | 'announce' | 'scrape';
  stream: Stream;
  phase: Phase;
  hashes: number;
}

/** A request waiting for the first connection id of its socket. */
interface WaitingUdp {
  stream: Stream;
  phase: Phase;
  action: 'announce' | 'scrape';
  send: (id: Buffer) => void;
}

/** One UDP socket per source address, as one client has one. */
interface UdpSource {
  socket: dgram.Socket;
  /** The tracker's address in the socket's family. */
  tracker: string;
  connectionId: Buffer | null;
  connectionIdAt: number;
  connecting: boolean;
  waiting: WaitingUdp[];
  pending: Map<number, PendingUdp>;
}

function hashOf(n: number): Buffer {
  const h = Buffer.alloc(20, 0x5a);
  h.writeUInt32BE(n, 0);
  h.write('soak', 4);
  return h;
}

const pct = (bytes: Buffer) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

export class HonestLoad {
  phase: Phase = 'baseline';
  private readonly options: HonestOptions;
  private readonly streams: Stream[] = [];
  private readonly udpSources = new Map<string, UdpSource>();
  private readonly httpInFlight = new Set<{ sentAt: number; fail: (reason: string) => void }>();
  private readonly hashes: Buffer[];
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private tid = 1;

  constructor(options: HonestOptions) {
    this.options = options;
    this.hashes = Array.from({ length: options.torrents }, (_, i) => hashOf(i));
    const peers = (sources: string[]) =>
      sources.flatMap((source, s) =>
        Array.from({ length: options.peersPerSource }, (_, i): Peer => {
          const port = 10000 + i;
          const peerId = Buffer.alloc(20);
          peerId.write(`-SK0001-${String(s).padStart(4, '0')}${String(port).padStart(8, '0')}`);
          return { source, port, peerId, hash: pick(this.hashes), started: false, seeder: false };
        }),
      );
    const total = options.mix.udp + options.mix.http + options.mix.https;
    const families: ['ipv4' | 'ipv6', number, Peer[]][] = [
      ['ipv4', options.rate4, peers(options.sources4)],
      ['ipv6', options.rate6, peers(['::1'])],
    ];
    for (const [family, rate, familyPeers] of families) {
      for (const protocol of ['udp', 'http', 'https'] as const) {
        const share = (rate * options.mix[protocol]) / total;
        if (share <= 0 || (protocol === 'https' && options.httpsPort === null)) continue;
        const recorder = () => new Outcomes(options.origin, options.windowSeconds);
        this.streams.push({
          protocol,
          family,
          rate: share,
          peers: familyPeers,
          issued: 0,
          skipped: 0,
          outcomes: { baseline: recorder(), flood: recorder() },
          series: recorder(),
        });
      }
    }
  }

  async start(): Promise<void> {
    const udpStreams = this.streams.filter((s) => s.protocol === 'udp');
    const sources = new Set(udpStreams.flatMap((s) => s.peers.map((p) => p.source)));
    for (const source of sources) this.udpSources.set(source, await this.openUdp(source));
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops sending and waits for the requests under way (at most the timeout). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const deadline = performance.now() + this.options.timeoutMs + 500;
    while (performance.now() < deadline && (this.httpInFlight.size > 0 || this.udpPendingCount() > 0)) {
      await new Promise((r) => setTimeout(r, 50));
      this.expire();
    }
    for (const source of this.udpSources.values()) source.socket.close();
  }

  /** Requests and failures so far, for progress lines. */
  totals(): { requests: number; failed: number } {
    let requests = 0;
    let failed = 0;
    for (const s of this.streams) {
      requests += s.series.requests;
      failed += s.series.failedCount;
    }
    return { requests, failed };
  }

  /** `quiet`: whether, in a given second of the run, nothing but the soak used the machine. */
  report(quiet: (second: number) => boolean): StreamReport[] {
    return this.streams.map((s) => ({
      protocol: s.protocol,
      family: s.family,
      baseline: s.outcomes.baseline.summary(),
      flood: s.outcomes.flood.summary(),
      floodQuiet: s.outcomes.flood.summary(quiet),
      series: s.series.series(),
    }));
  }

  /** Requests per second that each source address sends, by family (what a per-address limiter sees). */
  perSourceRate(): { ipv4: number; ipv6: number } {
    return {
      ipv4: this.options.sources4.length === 0 ? 0 : this.options.rate4 / this.options.sources4.length,
      ipv6: this.options.rate6,
    };
  }

  private tick(): void {
    const elapsed = (performance.now() - this.startedAt) / 1000;
    for (const s of this.streams) {
      const due = s.rate * elapsed;
      const behind = due - s.issued - s.skipped;
      if (behind > s.rate * MAX_BACKLOG_S) s.skipped += Math.floor(behind - s.rate * MAX_BACKLOG_S);
      while (s.issued + s.skipped < Math.floor(due)) {
        s.issued++;
        this.issue(s);
      }
    }
    this.expire();
  }

  private issue(s: Stream): void {
    const peer = pick(s.peers);
    const phase = this.phase;
    if (Math.random() < SCRAPE_SHARE) {
      const hashes = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(this.hashes));
      if (s.protocol === 'udp') this.udpScrape(s, phase, peer.source, hashes);
      else this.httpRequest(s, phase, peer.source, `/scrape?${hashes.map((h) => `info_hash=${pct(h)}`).join('&')}`);
      return;
    }
    const event = this.nextEvent(peer);
    if (s.protocol === 'udp') this.udpAnnounce(s, phase, peer, event);
    else {
      const target =
        `/announce?info_hash=${pct(peer.hash)}&peer_id=${pct(peer.peerId)}&port=${peer.port}` +
        `&uploaded=0&downloaded=0&left=${peer.seeder ? 0 : 1000}&compact=1&numwant=50` +
        (event === EVENT_NONE ? '' : `&event=${HTTP_EVENTS[event]}`);
      this.httpRequest(s, phase, peer.source, target);
    }
  }

  /** A peer's next event, as a client's life goes: started, re-announces, sometimes completed, rarely stopped. */
  private nextEvent(peer: Peer): number {
    if (!peer.started) {
      peer.started = true;
      peer.seeder = Math.random() < SEEDER_SHARE;
      return EVENT_STARTED;
    }
    const r = Math.random();
    if (!peer.seeder && r < COMPLETE_SHARE) {
      peer.seeder = true;
      return EVENT_COMPLETED;
    }
    if (r > 1 - STOP_SHARE) {
      peer.started = false;
      return EVENT_STOPPED;
    }
    return EVENT_NONE;
  }

  // ------------------------------------------------------------------------------------------------ UDP
  private openUdp(source: string): Promise<UdpSource> {
    const v6 = source.includes(':');
    const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    const udp: UdpSource = {
      socket,
      tracker: v6 ? '::1' : '127.0.0.1',
      connectionId: null,
      connectionIdAt: 0,
      connecting: false,
      waiting: [],
      pending: new Map(),
    };
    socket.on('message', (msg) => this.udpReply(udp, msg));
    socket.on('error', () => {});
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: source, port: 0 }, () => {
        socket.off('error', reject);
        resolve(udp);
      });
    });
  }

  private udpSend(udp: UdpSource, msg: Buffer, pending: PendingUdp, tid: number): void {
    udp.pending.set(tid, pending);
    udp.socket.send(msg, this.options.port, udp.tracker);
  }

  /** Runs `send` with a good connection id, connecting first when there is none; renews an old one meanwhile. */
  private withConnectionId(
    s: Stream,
    phase: Phase,
    udp: UdpSource,
    action: 'announce' | 'scrape',
    send: (id: Buffer) => void,
  ): void {
    const age = performance.now() - udp.connectionIdAt;
    if ((udp.connectionId === null || age > CONNECTION_ID_RENEW_MS) && !udp.connecting) {
      udp.connecting = true;
      const tid = this.nextTid();
      const msg = Buffer.alloc(16);
      msg.writeBigUInt64BE(UDP_MAGIC, 0);
      msg.writeUInt32BE(0, 8);
      msg.writeUInt32BE(tid, 12);
      this.udpSend(udp, msg, { sentAt: performance.now(), action: 'connect', stream: s, phase, hashes: 0 }, tid);
    }
    if (udp.connectionId !== null) send(udp.connectionId);
    else udp.waiting.push({ stream: s, phase, action, send });
  }

  private udpAnnounce(s: Stream, phase: Phase, peer: Peer, event: number): void {
    const udp = this.udpSources.get(peer.source);
    if (udp === undefined) return;
    this.withConnectionId(s, phase, udp, 'announce', (id) => {
      const tid = this.nextTid();
      const msg = Buffer.alloc(98);
      id.copy(msg, 0);
      msg.writeUInt32BE(1, 8);
      msg.writeUInt32BE(tid, 12);
      peer.hash.copy(msg, 16);
      peer.peerId.copy(msg, 36);
      msg.writeBigUInt64BE(peer.seeder ? 0n : 1000n, 64);
      msg.writeUInt32BE(event, 80);
      msg.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 88);
      msg.writeInt32BE(50, 92);
      msg.writeUInt16BE(peer.port, 96);
      this.udpSend(udp, msg, { sentAt: performance.now(), action: 'announce', stream: s, phase, hashes: 0 }, tid);
    });
  }

  private udpScrape(s: Stream, phase: Phase, source: string, hashes: Buffer[]): void {
    const udp = this.udpSources.get(source);
    if (udp === undefined) return;
    this.withConnectionId(s, phase, udp, 'scrape', (id) => {
      const tid = this.nextTid();
      const msg = Buffer.alloc(16 + 20 * hashes.length);
      id.copy(msg, 0);
      msg.writeUInt32BE(2, 8);
      msg.writeUInt32BE(tid, 12);
      for (const [i, h] of hashes.entries()) h.copy(msg, 16 + 20 * i);
      const pending: PendingUdp = {
        sentAt: performance.now(),
        action: 'scrape',
        stream: s,
        phase,
        hashes: hashes.length,
      };
      this.udpSend(udp, msg, pending, tid);
    });
  }

  private udpReply(udp: UdpSource, msg: Buffer): void {
    if (msg.length < 8) return;
    const tid = msg.readUInt32BE(4);
    const p = udp.pending.get(tid);
    if (p === undefined) return; // a late reply to a request already counted as timed out
    udp.pending.delete(tid);
    const ms = performance.now() - p.sentAt;
    const problem = checkUdp(msg, p);
    if (p.action === 'connect') {
      if (problem !== null) this.connectFailed(udp);
      else {
        udp.connecting = false;
        udp.connectionId = Buffer.from(msg.subarray(8, 16));
        udp.connectionIdAt = performance.now();
        for (const w of udp.waiting.splice(0)) w.send(udp.connectionId);
      }
    }
    this.record(p.stream, p.phase, problem === null ? null : `${p.action}: ${problem}`, ms);
  }

  /** A connect failed: the requests that waited for it fail too (a client would retry them 15 s later). */
  private connectFailed(udp: UdpSource): void {
    udp.connecting = false;
    for (const w of udp.waiting.splice(0)) this.record(w.stream, w.phase, `${w.action}: no connection id`, 0);
  }

  private udpPendingCount(): number {
    let n = 0;
    for (const u of this.udpSources.values()) n += u.pending.size;
    return n;
  }

  private nextTid(): number {
    this.tid = (this.tid + 1) >>> 0;
    return this.tid;
  }

  // ------------------------------------------------------------------------------------------------ HTTP(S)
  private httpRequest(s: Stream, phase: Phase, source: string, target: string): void {
    const v6 = s.family === 'ipv6';
    const host = v6 ? '::1' : '127.0.0.1';
    const request = `GET ${target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: soak/1\r\nConnection: close\r\n\r\n`;
    const action = target.startsWith('/scrape') ? 'scrape' : 'announce';
    const sentAt = performance.now();
    const tcp = net.connect({
      host,
      port: s.protocol === 'https' ? (this.options.httpsPort ?? 0) : this.options.port,
      localAddress: source,
    });
    const socket =
      s.protocol === 'https'
        ? tls.connect({ socket: tcp, ca: this.options.ca ?? undefined, servername: 'localhost' })
        : tcp;
    let data: Buffer = Buffer.alloc(0);
    let done = false;
    const entry = { sentAt, fail: (reason: string) => finish(reason) };
    const finish = (reason: string | null) => {
      if (done) return;
      done = true;
      this.httpInFlight.delete(entry);
      socket.destroy();
      tcp.destroy();
      this.record(s, phase, reason === null ? null : `${action}: ${reason}`, performance.now() - sentAt);
    };
    this.httpInFlight.add(entry);
    socket.on(s.protocol === 'https' ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      const parsed = parseResponse(data);
      if (parsed !== null) finish(checkHttp(parsed.response.status, parsed.response.body, action));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('close', () => finish('closed before a whole reply'));
  }

  private expire(): void {
    const now = performance.now();
    const limit = this.options.timeoutMs;
    for (const entry of this.httpInFlight) if (now - entry.sentAt > limit) entry.fail('timeout');
    for (const udp of this.udpSources.values()) {
      for (const [tid, p] of udp.pending) {
        if (now - p.sentAt <= limit) continue;
        udp.pending.delete(tid);
        if (p.action === 'connect') this.connectFailed(udp);
        this.record(p.stream, p.phase, `${p.action}: timeout`, now - p.sentAt);
      }
    }
  }

  private record(s: Stream, phase: Phase, failure: string | null, ms: number): void {
    if (failure === null) {
      s.outcomes[phase].ok(ms);
      s.series.ok(ms);
    } else {
      s.outcomes[phase].fail(failure);
      s.series.fail(failure);
    }
  }
}

/** Null when `msg` is a valid reply to the UDP request `p`, else why not. */
function checkUdp(msg: Buffer, p: PendingUdp): string | null {
  const action = msg.readUInt32BE(0);
  if (action === 3) return `error "${msg.subarray(8).toString('latin1')}"`;
  if (p.action === 'connect') return action === 0 && msg.length >= 16 ? null : 'malformed connect reply';
  if (p.action === 'scrape') return action === 2 && msg.length === 8 + 12 * p.hashes ? null : 'malformed scrape reply';
  const peerBytes = msg.length - 20;
  const entry = p.stream.family === 'ipv4' ? 6 : 18;
  const valid = action === 1 && peerBytes >= 0 && peerBytes % entry === 0 && msg.readUInt32BE(8) > 0;
  return valid ? null : 'malformed announce reply';
}

/** Null when `body` is a valid tracker reply to `action`, else why not. */
function checkHttp(status: number, body: Buffer, action: 'announce' | 'scrape'): string | null {
  if (status !== 200) return `HTTP ${status}`;
  let reply: BDict;
  try {
    reply = decode(body) as BDict;
  } catch {
    return 'body is not bencode';
  }
  const reason = reply['failure reason'];
  if (reason instanceof Uint8Array) return `failure "${Buffer.from(reason).toString('latin1')}"`;
  if (action === 'announce' && typeof reply.interval !== 'number') return 'no interval';
  if (action === 'scrape' && typeof reply.files !== 'object') return 'no files';
  return null;
}
