// The native TCP addon (native/tcp_batch.c): a listening socket and its connections on an epoll set that libuv polls;
// connections with request bytes are handed to JS in batches, and JS answers into fixed slots. I/O only: parsing and
// answering stay in JS (native-http-server.ts). Built at install by scripts/build-native.ts; when it is missing or
// cannot load, `nativeTcp` is null, `nativeTcpError` says why, and HTTP runs on node:net.

import { loadNativeAddon } from './native-addon.ts';

/** outFlags: close the connection once this reply is written. */
export const FLAG_CLOSE = 1;
/** outFlags: the answer comes later through send(); hand nothing more from this connection until then. */
export const FLAG_HOLD = 2;

/** A listening socket whose connections are read and written in batches. */
export interface TcpServer {
  /** The bound port (the kernel's choice when listening on port 0). */
  readonly port: number;
  /**
   * Begins polling. `onBatch(count)` is called with connections in slots 0..count-1: inLength[i] unanswered bytes
   * in inData (from the first byte not yet consumed), the connection's id in inConn[i] and its source address in
   * inAddr. For each slot JS sets outLength (reply bytes in outData, written in order after anything pending),
   * outConsumed (input bytes answered; the rest is handed again with what follows) and outFlags (FLAG_CLOSE,
   * FLAG_HOLD). A connection is handed again once it has unconsumed input and no pending output. Throws if called
   * twice or after close().
   */
  start(onBatch: (count: number) => void): void;
  /**
   * Writes the answer to a held request (then hands the connection's further input again, or closes it after the
   * write when `close`). False when that connection is gone: closed, or its slot now serves another connection.
   * Throws when called inside onBatch or a microtask queued there: the answer would overtake that batch's replies.
   */
  send(id: number, bytes: Uint8Array, close: boolean): boolean;
  /**
   * Closes connections whose request head has waited more than `headMs` since its first byte, and those with no
   * read or write progress for `idleMs` (idle, or not reading their replies); held ones are spared. Returns how
   * many it closed.
   */
  sweep(headMs: number, idleMs: number): number;
  /** Connections accepted since the last call. */
  takeAccepted(): number;
  /** Connections closed at once, since the last call, because maxConnections were open. */
  takeRefused(): number;
  /** Closes the listening socket and every connection; idempotent. */
  close(): void;
}

/**
 * Buffers allocated by JS and handed to listen(); the addon keeps them alive and uses them in place until close().
 * `batch` slots each; inData has inSlotSize bytes per slot, outData outSlotSize.
 */
export interface TcpBuffers {
  inData: Uint8Array;
  inLength: Int32Array;
  inConn: Int32Array;
  /** 16 bytes per slot: IPv4 in the first 4. */
  inAddr: Uint8Array;
  outData: Uint8Array;
  outLength: Int32Array;
  outConsumed: Int32Array;
  outFlags: Int32Array;
}

export interface TcpListenOptions {
  /** AF_INET6 (with IPV6_V6ONLY) instead of AF_INET. */
  ipv6: boolean;
  /** An IP literal of that family. */
  address: string;
  /** 0..65535; 0 lets the kernel choose. */
  port: number;
  /** SO_REUSEPORT, so several listeners (one per worker) share the port. */
  reusePort: boolean;
  /** Connections per onBatch call, 1..1024. */
  batch: number;
  /** Reply bytes per slot. */
  outSlotSize: number;
  /** Most open connections; a connection accepted beyond them is closed at once. 0: no cap. */
  maxConnections: number;
}

export interface NativeTcp {
  /** Input bytes buffered per connection, and per inData slot: the longest request head it can hand over. */
  readonly inSlotSize: number;
  /**
   * Binds and listens. Throws an Error shaped like Node's (code, syscall, address, port) when the socket cannot be
   * had, a TypeError when the buffers do not match and a RangeError when a size is out of range.
   */
  listen(options: TcpListenOptions, buffers: TcpBuffers): TcpServer;
}

const loaded = loadNativeAddon<NativeTcp>('tcp_batch', 'listen');

/** The loaded addon, or null when it cannot load (not built, not Linux, SWARMD_NO_NATIVE=1, ...). */
export const nativeTcp: NativeTcp | null = loaded.addon;
/** Why `nativeTcp` is null; null when it loaded. */
export const nativeTcpError: string | null = loaded.error;
