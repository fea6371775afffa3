// The native UDP addon (native/udp_batch.c): recvmmsg/sendmmsg in batches, one JS call per batch. I/O only: the
// tracker logic stays in JS. Built at install by scripts/build-native.ts; when it is missing or cannot load,
// `nativeUdp` is null, `nativeUdpError` says why, and UDP runs on node:dgram.

import { loadNativeAddon } from './native-addon.ts';

/** A bound UDP socket read and written in batches. */
export interface BatchSocket {
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly port: number;
  /**
   * Begins polling the socket. `onBatch(count)` is called with datagrams in slots 0..count-1 of the buffers and
   * `outLength` zeroed; when it returns, each slot i with 0 < outLength[i] <= outSlotSize is sent to the source of
   * datagram i. A throw from `onBatch` is raised as an uncaught exception and that batch gets no replies. Throws if
   * called twice or after close().
   */
  start(onBatch: (count: number) => void): void;
  /**
   * Stops polling and closes the socket; idempotent. Called from inside `onBatch`, the replies of that batch are
   * not sent. After close() the addon holds no reference to the buffers.
   */
  close(): void;
}

/**
 * Buffers allocated by JS and handed to open(); the addon keeps them alive and reads/writes them in place until
 * close(). Do not transfer or detach their ArrayBuffers while the socket is open.
 */
export interface BatchBuffers {
  /** batch * slotSize bytes: datagram i at i * slotSize. */
  inData: Uint8Array;
  /** batch entries: length of datagram i, or -1 if it was truncated (bigger than slotSize). */
  inLength: Int32Array;
  /** batch * 16 bytes: source address of datagram i at i * 16 (IPv4: 4 bytes, rest zero; IPv6: 16 bytes). */
  inAddr: Uint8Array;
  /** batch * outSlotSize bytes: JS writes reply i at i * outSlotSize. */
  outData: Uint8Array;
  /** batch entries: JS sets the reply length of slot i; 0 = no reply. Zeroed by the addon before each onBatch. */
  outLength: Int32Array;
}

export interface OpenOptions {
  /** AF_INET6 (with IPV6_V6ONLY) instead of AF_INET. */
  ipv6: boolean;
  /** An IP literal of that family (IPv6 may carry a %scope). */
  address: string;
  /** 0..65535; 0 lets the kernel choose. */
  port: number;
  /** SO_REUSEPORT, so several sockets (e.g. one per worker) share the port. */
  reusePort: boolean;
  /**
   * With reusePort, 2..1024: how many sockets will share the port; each datagram then goes to one of them at random,
   * not by the hash of its source (which sends all of one client's datagrams to one socket). 0: the hash.
   */
  randomSpread: number;
  /** SO_RCVBUF asked for (SO_RCVBUFFORCE when permitted); best effort, 0 leaves the default. */
  recvBufferBytes: number;
  /** Datagrams per batch, 1..1024. */
  batch: number;
  /** Bytes per received datagram slot, 1..65536. */
  slotSize: number;
  /** Bytes per reply slot, 1..65536. */
  outSlotSize: number;
}

export interface NativeUdp {
  /**
   * Creates, configures and binds the socket. Throws an Error shaped like Node's (code 'EADDRINUSE', 'EACCES', ...;
   * syscall 'bind', 'socket' or 'setsockopt'; errno, address, port) when the socket cannot be had, with code
   * 'EINVAL' when the address is not an IP literal of the family, a TypeError when the buffers do not match the
   * sizes and a RangeError when a size is out of range.
   */
  open(options: OpenOptions, buffers: BatchBuffers): BatchSocket;
}

const loaded = loadNativeAddon<NativeUdp>('udp_batch', 'open');

/** The loaded addon, or null when it cannot load (not built, other platform, SWARMD_NO_NATIVE=1, ...). */
export const nativeUdp: NativeUdp | null = loaded.addon;
/** Why `nativeUdp` is null; null when it loaded. */
export const nativeUdpError: string | null = loaded.error;
