// HTTP/1.1 on net sockets, plain or TLS (HTTPS): keep-alive, pipelining (answers in request order), bounded heads,
// and one timer for all connections that cuts off slow and idle clients. No node:http objects per request.

import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log.ts';
import { IPV4, writeEndpoint } from '../protocol/ip.ts';
import { C } from '../stats/counters.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import { createAnswer, type HttpClient, type HttpHandler } from './http-handler.ts';
import { type TlsPair, tlsOptions } from './tls-credentials.ts';

export interface HttpServerOptions {
  /** Largest request head accepted, in bytes. */
  maxHeadBytes: number;
  /**
   * Milliseconds a client has to send a whole request head once it started one; for a connection's first request,
   * from the moment it was accepted (so a client that connects and sends nothing is cut off as soon).
   */
  headTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection is kept. */
  idleTimeoutMs: number;
  /** Milliseconds a TLS client has to complete its handshake. */
  handshakeTimeoutMs: number;
  /** Most open connections; one accepted beyond them is closed at once. 0: no cap. */
  maxConnections: number;
}

interface Connection {
  socket: net.Socket;
  client: HttpClient;
  /** Bytes of a request head not yet complete. */
  pending: Buffer | null;
  /**
   * When the unfinished request began (ms), 0 when none is pending; a new connection's first request begins at the
   * accept, so a client that connects and sends nothing is cut off as soon as a slow one.
   */
  startedAt: number;
  lastActivity: number;
  /** A full scrape is being built: later pipelined requests wait. */
  busy: boolean;
  /** Where it is in HttpServer.connections. */
  index: number;
}

/** A socket's 'error' listener: one function for all, so that it holds nothing of a connection. */
function destroySocket(this: net.Socket): void {
  this.destroy();
}

export class HttpServer {
  readonly server: net.Server | tls.Server;
  private readonly handler: HttpHandler;
  private readonly log: Logger;
  private readonly options: HttpServerOptions;
  /**
   * The open connections, in no order; one that closes is replaced by the last. Not a Set: with a connection per
   * request, a Set's adds and deletes made every young-generation GC take about 15 ms instead of 2.
   */
  private readonly connections: Connection[] = [];
  private readonly answer = createAnswer();
  private readonly reaper: NodeJS.Timeout;

  /** `tlsPair`: serve HTTPS with this certificate chain and key (see setTlsPair to change them). */
  constructor(handler: HttpHandler, log: Logger, options: HttpServerOptions, tlsPair: TlsPair | null = null) {
    this.handler = handler;
    this.log = log;
    this.options = options;
    const accept = (socket: net.Socket) => this.accept(socket);
    this.server =
      tlsPair === null
        ? net.createServer({ noDelay: true }, accept)
        : tls.createServer(
            {
              ...tlsOptions(tlsPair),
              ALPNProtocols: ['http/1.1'],
              handshakeTimeout: options.handshakeTimeoutMs,
              noDelay: true,
            },
            accept,
          );
    // A handshake that fails or times out (handshakeTimeout) is reported here, and Node leaves its socket open.
    this.server.on('tlsClientError', (_err: Error, socket: net.Socket) => {
      this.handler.counters.values[C.connectionsCut]++;
      socket.destroy();
    });
    // Node's own cap, applied before a TLS handshake is even begun.
    if (options.maxConnections > 0) this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => this.handler.counters.values[C.connectionsCut]++);
    this.reaper = setInterval(() => this.reap(), 1000).unref();
    this.server.on('close', () => clearInterval(this.reaper));
  }

  /** An HTTPS server's new certificate and key: new connections get them, open ones keep theirs. */
  setTlsPair(pair: TlsPair): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext(tlsOptions(pair));
  }

  /** `reusePort`: SO_REUSEPORT, so that several workers listen on the port and the kernel spreads connections. */
  listen(port: number, host: string, reusePort = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, ipv6Only: host.includes(':'), reusePort }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting and closes every connection. */
  close(): Promise<void> {
    for (let i = this.connections.length - 1; i >= 0; i--) this.connections[i].socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const addr = new Uint8Array(18);
    const family = writeEndpoint(socket.remoteAddress ?? '', 0, addr);
    if (family === 0) {
      socket.destroy();
      return;
    }
    const now = Date.now();
    const c: Connection = {
      socket,
      client: { family: family === IPV4 ? FAMILY_V4 : FAMILY_V6, addr },
      pending: null,
      startedAt: now,
      lastActivity: now,
      busy: false,
      index: this.connections.length,
    };
    this.connections.push(c);
    this.handler.counters.values[C.tcpAccepts]++;
    const onData = (chunk: Buffer) => this.onData(c, chunk);
    // A client that does not read its replies is not read either (see send()); its replies going out count as activity.
    const onDrain = () => {
      c.lastActivity = Date.now();
      if (!c.busy) socket.resume();
    };
    // A closed socket lets go of the closures that enclose its connection. Under a connection per request V8 can
    // come to allocate some of a socket's objects straight in the old generation (allocation-site pretenuring), and
    // an old object, garbage or not, keeps what it points to through young collections until the next full one: a
    // closed socket whose listeners still enclosed its connection was kept so, with all that hangs from it (380 MB
    // promoted in 20 s instead of 8: docs/benchmarks.md, "Closed connections' listeners").
    const onClose = () => {
      this.forget(c);
      socket.off('data', onData).off('drain', onDrain).off('close', onClose);
    };
    socket.on('data', onData).on('drain', onDrain).on('error', destroySocket).on('close', onClose);
  }

  private forget(c: Connection): void {
    const last = this.connections.pop() as Connection;
    if (last === c) return;
    this.connections[c.index] = last;
    last.index = c.index;
  }

  private onData(c: Connection, chunk: Buffer): void {
    c.lastActivity = Date.now();
    if (c.startedAt === 0) c.startedAt = c.lastActivity;
    const data = c.pending === null ? chunk : Buffer.concat([c.pending, chunk]);
    c.pending = null;
    if (c.busy) {
      c.pending = data;
      return;
    }
    this.process(c, data, 0);
  }

  /** Answers every complete request in `data` from `offset`, in order. */
  private process(c: Connection, data: Buffer, offset: number): void {
    const socket = c.socket;
    const a = this.answer;
    let corked = false;
    while (offset < data.length) {
      const { response } = this.handler.answer(data, offset, data.length, c.client, this.options.maxHeadBytes, a);
      if (response === null) {
        c.pending = data.subarray(offset);
        break;
      }
      // A bug, not bad input: the 500 goes out, this connection closes, the rest keep being served.
      if (a.error !== null) this.log.error({ err: a.error }, 'HTTP request failed');
      offset = a.next;
      c.startedAt = offset < data.length ? Date.now() : 0;
      const keepAlive = !a.close;
      if (response instanceof Promise) {
        // Hold later requests until this one is answered, so responses keep their order.
        c.busy = true;
        socket.pause();
        const rest = data.subarray(offset);
        response.then(
          (bytes) => this.resume(c, bytes, keepAlive, rest),
          (err) => {
            this.log.error({ err }, 'HTTP request failed');
            this.finish(c, this.handler.plain(500, 'internal error\n', null));
          },
        );
        break;
      }
      if (!keepAlive) {
        this.finish(c, response);
        break;
      }
      // Pipelined requests behind this one: gather their responses into one write.
      if (!corked && offset < data.length) {
        socket.cork();
        corked = true;
      }
      this.send(socket, response);
    }
    if (corked) socket.uncork();
  }

  private resume(c: Connection, bytes: Uint8Array, keepAlive: boolean, rest: Buffer): void {
    c.busy = false;
    if (c.socket.destroyed) return;
    if (!keepAlive) {
      this.finish(c, bytes);
      return;
    }
    this.send(c.socket, bytes);
    if (!c.socket.writableNeedDrain) c.socket.resume();
    const queued = c.pending === null ? rest : Buffer.concat([rest, c.pending]);
    c.pending = null;
    if (queued.length > 0) this.process(c, queued, 0);
  }

  /**
   * Writes a response; a socket that keeps it (not written at once) keeps the handler from reusing its memory. Past
   * the socket's high-water mark the connection is not read until its output drains: a client that pipelines
   * requests and never reads would otherwise have its replies pile up in memory without bound.
   */
  private send(socket: net.Socket, bytes: Uint8Array): void {
    if (!socket.write(bytes)) socket.pause();
    if (socket.writableLength !== 0) this.handler.responseRetained();
  }

  /**
   * Sends a last response and closes the connection. Over plain TCP, a response the kernel took whole is followed by
   * a plain close, which still sends it and then the FIN, without the half-close round of end(). One it did not take
   * waits for its drain; TLS always ends with end(), which sends the close_notify alert.
   */
  private finish(c: Connection, bytes: Uint8Array): void {
    c.pending = null;
    const socket = c.socket;
    socket.write(bytes);
    if (socket.writableLength !== 0) this.handler.responseRetained();
    else if (!(socket instanceof tls.TLSSocket)) {
      socket.destroy();
      return;
    }
    socket.end();
    socket.destroySoon();
  }

  private reap(): void {
    const now = Date.now();
    const { headTimeoutMs, idleTimeoutMs } = this.options;
    // Backwards: a socket's 'close' comes later, but even one that came at once would only move a visited connection.
    for (let i = this.connections.length - 1; i >= 0; i--) {
      const c = this.connections[i];
      if (c.busy) continue;
      if ((c.startedAt !== 0 && now - c.startedAt > headTimeoutMs) || now - c.lastActivity > idleTimeoutMs) {
        this.handler.counters.values[C.connectionsCut]++;
        c.socket.destroy();
      }
    }
  }
}
