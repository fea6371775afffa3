// Plain HTTP/1.1 through the native addon (native/tcp_batch.c): the addon accepts, reads and writes; this file parses
// request heads and answers them with the same HttpHandler as http-server.ts, a batch of connections per call — no
// net.Socket, no stream, no object per request or connection. Node's socket layer alone costs, per connection, about
// what opentracker spends on a whole request (docs/benchmarks.md); this path is what lets HTTP beat it.
// The same bounds as http-server.ts: heads up to maxHeadBytes, head and idle timeouts (swept once a second),
// pipelined requests answered in order, a full scrape (asynchronous) holding the connection until it is written.

import type { Logger } from '../log.ts';
import { C } from '../stats/counters.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import { createAnswer, type HttpClient, type HttpHandler } from './http-handler.ts';
import type { HttpServerOptions } from './http-server.ts';
import {
  FLAG_CLOSE,
  FLAG_HOLD,
  nativeTcp,
  nativeTcpError,
  type TcpBuffers,
  type TcpServer,
} from './native-tcp-addon.ts';

const BATCH = 64;
const OUT_SLOT = 64 * 1024;

export class NativeHttpServer {
  private readonly handler: HttpHandler;
  private readonly log: Logger;
  private readonly options: HttpServerOptions;
  private server: TcpServer | null = null;
  private reaper: NodeJS.Timeout | null = null;

  constructor(handler: HttpHandler, log: Logger, options: HttpServerOptions) {
    this.handler = handler;
    this.log = log;
    this.options = options;
  }

  async listen(port: number, host: string, reusePort = false): Promise<void> {
    if (nativeTcp === null) {
      throw new Error(`--http-io native: the native HTTP addon is not available: ${nativeTcpError}`);
    }
    const ipv6 = host.includes(':');
    const batch = new HttpBatch(
      this.handler,
      this.log,
      ipv6 ? FAMILY_V6 : FAMILY_V4,
      nativeTcp.inSlotSize,
      this.options,
    );
    // Throws errors shaped like net's (code, syscall, address, port), which main.ts reports in one line.
    const { maxConnections } = this.options;
    const server = nativeTcp.listen(
      { ipv6, address: host, port, reusePort, batch: BATCH, outSlotSize: batch.outSlot, maxConnections },
      batch.buffers,
    );
    this.server = server;
    batch.send = (id, bytes, close) => server.send(id, bytes, close);
    server.start((count) => batch.answer(count));
    const { headTimeoutMs, idleTimeoutMs } = this.options;
    const counts = this.handler.counters.values;
    this.reaper = setInterval(() => {
      counts[C.connectionsCut] += server.sweep(headTimeoutMs, idleTimeoutMs) + server.takeRefused();
      counts[C.tcpAccepts] += server.takeAccepted();
    }, 1000).unref();
  }

  close(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.server?.close();
    this.server = null;
    return Promise.resolve();
  }
}

/**
 * The JS half of a native HTTP batch: the buffers the addon fills and reads (TcpBuffers), and the answers to the
 * connections in slots 0..count-1. Apart from the server so that `npm run bench:micro` can time it without sockets.
 */
export class HttpBatch {
  readonly buffers: TcpBuffers;
  /** Answers a held request (a full scrape or a stats page) later: the server's send(). */
  send: (id: number, bytes: Uint8Array, close: boolean) => void = () => {};
  private readonly handler: HttpHandler;
  private readonly log: Logger;
  private readonly maxHead: number;
  private readonly requests: Buffer[] = [];
  private readonly clients: HttpClient[] = [];
  /** Reply bytes per slot. */
  readonly outSlot = OUT_SLOT;
  private readonly a = createAnswer();

  constructor(handler: HttpHandler, log: Logger, family: number, inSlot: number, options: HttpServerOptions) {
    this.handler = handler;
    this.log = log;
    this.maxHead = options.maxHeadBytes;
    const outSlot = this.outSlot;
    const b = {
      inData: new Uint8Array(BATCH * inSlot),
      inLength: new Int32Array(BATCH),
      inConn: new Int32Array(BATCH),
      inAddr: new Uint8Array(BATCH * 16),
      outData: new Uint8Array(BATCH * outSlot),
      outLength: new Int32Array(BATCH),
      outConsumed: new Int32Array(BATCH),
      outFlags: new Int32Array(BATCH),
    };
    this.buffers = b;
    const addrLength = family === FAMILY_V6 ? 16 : 4;
    for (let i = 0; i < BATCH; i++) {
      this.requests.push(Buffer.from(b.inData.buffer, i * inSlot, inSlot));
      this.clients.push({ family, addr: b.inAddr.subarray(i * 16, i * 16 + addrLength) });
    }
  }

  /** Answers the connections in slots 0..count-1: replies, bytes consumed and flags into the output buffers. */
  answer(count: number): void {
    const b = this.buffers;
    const handler = this.handler;
    const a = this.a;
    const maxHead = this.maxHead;
    const outSlot = this.outSlot;
    const room = handler.maxResponseSize;
    for (let i = 0; i < count; i++) {
      const data = this.requests[i];
      const length = b.inLength[i];
      const slot = i * outSlot;
      let offset = 0;
      let at = 0;
      let flags = 0;
      while (offset < length) {
        // Built in the slot when the largest reply fits there; otherwise (pipelined requests, or a --max-peers that
        // makes replies larger than a slot) in the handler's buffer, and copied.
        const output = outSlot - at >= room ? b.outData : null;
        let response = handler.answer(data, offset, length, this.clients[i], maxHead, a, output, slot + at).response;
        if (response === null) break; // the rest of the head is still to come
        if (a.error !== null) this.log.error({ err: a.error }, 'HTTP request failed');
        const next = a.next;
        if (a.close) flags = FLAG_CLOSE;
        if (response instanceof Promise) {
          // Held: the addon delivers nothing more from this connection until send().
          this.later(b.inConn[i], response, (flags & FLAG_CLOSE) === 0);
          flags = FLAG_HOLD;
          offset = next;
          break;
        }
        if (a.inPlaceEnd >= 0) {
          at = a.inPlaceEnd - slot;
        } else {
          if (at + response.length > outSlot) {
            if (at > 0) break; // the next batch takes the rest
            response = handler.plain(500, 'response too large\n', null);
            flags = FLAG_CLOSE;
          }
          b.outData.set(response, slot + at);
          at += response.length;
        }
        offset = next;
        if (flags & FLAG_CLOSE) break;
      }
      b.outLength[i] = at;
      b.outConsumed[i] = offset;
      b.outFlags[i] = flags;
    }
  }

  /**
   * A promise that is already settled calls back in a microtask that still runs inside the batch, where send() may
   * not be called (it would overtake the batch's replies): answer from the next turn of the loop.
   */
  private later(id: number, response: Promise<Buffer>, keepAlive: boolean): void {
    response.then(
      (bytes) => setImmediate(() => this.send(id, bytes, !keepAlive)),
      (err) => {
        this.log.error({ err }, 'HTTP request failed');
        setImmediate(() => this.send(id, this.handler.plain(500, 'internal error\n', null), true));
      },
    );
  }
}
