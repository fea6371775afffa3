// The soak's slow clients, all from one source address, each kind kept at a fixed number of open connections
// (one closed is opened again): slowloris (a valid request head trickled a byte at a time), connections that never
// send a byte, and TLS handshakes that never finish (the first bytes of a ClientHello, then nothing). What matters
// is how long the tracker lets each live (its --header-timeout and --handshake-timeout) and that holding them costs
// the honest clients nothing.

import net from 'node:net';
import { type OutcomeSummary, Outcomes } from './outcomes.ts';

export type SlowKind = 'slowloris' | 'silent' | 'tls-stall';

export interface SlowOptions {
  host: string;
  port: number;
  /** The HTTPS port; null: no TLS stalls. */
  httpsPort: number | null;
  source: string;
  /** Connections kept open of each kind. */
  counts: Record<SlowKind, number>;
  /** Slowloris: one byte of the head this often. */
  byteEveryMs: number;
  /** Most connections (re)opened per second, all kinds together, so that a tracker refusing at once is no busy loop. */
  maxOpensPerSecond: number;
}

export interface SlowReport {
  kind: SlowKind;
  target: number;
  opened: number;
  /** Connections the tracker closed (or reset); `lifetime` is from the connect to that close. */
  closedByTracker: number;
  lifetime: OutcomeSummary;
  /** Status lines the tracker answered with before closing, and errors. */
  answers: Record<string, number>;
  errors: Record<string, number>;
  openAtEnd: number;
}

const TICK_MS = 50;
const SLOW_HEAD =
  'GET /announce?info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13&port=6881 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow/1\r\n\r\n';
/** A TLS record header and the start of a ClientHello: a handshake begun and never continued. */
const TLS_START = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

interface SlowConn {
  socket: net.Socket;
  openedAt: number;
  sent: number;
  nextByteAt: number;
}

class KindState {
  readonly kind: SlowKind;
  readonly target: number;
  readonly open = new Set<SlowConn>();
  opened = 0;
  closedByTracker = 0;
  readonly lifetime = new Outcomes(performance.now(), 3600);
  readonly answers = new Map<string, number>();
  readonly errors = new Map<string, number>();

  constructor(kind: SlowKind, target: number) {
    this.kind = kind;
    this.target = target;
  }
}

const bump = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);

export class SlowClients {
  private readonly options: SlowOptions;
  private readonly kinds: KindState[];
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private opensThisSecond = 0;
  private second = 0;

  constructor(options: SlowOptions) {
    this.options = options;
    this.kinds = (['slowloris', 'silent', 'tls-stall'] as const)
      .filter((k) => k !== 'tls-stall' || options.httpsPort !== null)
      .map((k) => new KindState(k, options.counts[k]));
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Closes every slow connection (ours, not the tracker's doing: not counted). */
  stop(): void {
    this.stopping = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const k of this.kinds) for (const c of k.open) c.socket.destroy();
  }

  report(): SlowReport[] {
    return this.kinds.map((k) => ({
      kind: k.kind,
      target: k.target,
      opened: k.opened,
      closedByTracker: k.closedByTracker,
      lifetime: k.lifetime.summary(),
      answers: Object.fromEntries(k.answers),
      errors: Object.fromEntries(k.errors),
      openAtEnd: k.open.size,
    }));
  }

  private tick(): void {
    const now = performance.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.opensThisSecond = 0;
    }
    for (const k of this.kinds) {
      while (k.open.size < k.target && this.opensThisSecond < this.options.maxOpensPerSecond) {
        this.opensThisSecond++;
        this.openOne(k);
      }
      if (k.kind !== 'slowloris') continue;
      for (const c of k.open) {
        if (now < c.nextByteAt || c.sent >= SLOW_HEAD.length || c.socket.connecting) continue;
        c.socket.write(SLOW_HEAD[c.sent]);
        c.sent++;
        c.nextByteAt = now + this.options.byteEveryMs;
      }
    }
  }

  private openOne(k: KindState): void {
    const { host, port, httpsPort, source } = this.options;
    const socket = net.connect({ host, port: k.kind === 'tls-stall' ? (httpsPort ?? 0) : port, localAddress: source });
    const conn: SlowConn = { socket, openedAt: performance.now(), sent: 0, nextByteAt: 0 };
    k.open.add(conn);
    k.opened++;
    let answered = false;
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      conn.openedAt = performance.now();
      if (k.kind === 'tls-stall') socket.write(TLS_START);
    });
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      answered = true;
      const text = chunk.toString('latin1');
      bump(k.answers, text.startsWith('HTTP/') ? text.slice(0, text.indexOf('\r')) : `${chunk.length} other bytes`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.stopping) bump(k.errors, err.code ?? err.message);
    });
    socket.on('close', () => {
      k.open.delete(conn);
      if (this.stopping || !connected) return;
      k.closedByTracker++;
      k.lifetime.ok(performance.now() - conn.openedAt);
    });
  }
}
