// UDP listeners: one socket per address, each datagram handed to the UdpHandler. Two ways to move the datagrams:
// - native: the addon (native-udp-addon.ts) reads and writes them in batches with recvmmsg/sendmmsg, one JS call per
//   batch, requests and replies in fixed buffers — no object per datagram;
// - dgram: node:dgram, one callback and one reply Buffer per datagram; the fallback where the addon cannot load.

import dgram from 'node:dgram';
import type { Logger } from '../log.ts';
import { IPV4, writeEndpoint } from '../protocol/ip.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import { nativeUdp, nativeUdpError } from './native-udp-addon.ts';
import type { UdpHandler } from './udp-handler.ts';

/** Kernel receive buffer asked for, so that bursts queue instead of being dropped. */
const RECV_BUFFER_BYTES = 8 * 1024 * 1024;
/** Datagrams per recvmmsg/sendmmsg call. */
const BATCH = 64;
/** The largest request read: a 74-hash scrape is 1496 bytes, an announce with BEP 41 options a few hundred. */
const REQUEST_SLOT = 2048;

export type UdpIo = 'native' | 'dgram';
/** 'auto': native when the addon loaded, else dgram. */
export type UdpIoChoice = UdpIo | 'auto';

export interface UdpListener {
  readonly port: number;
  readonly io: UdpIo;
  close(): void;
}

export interface UdpListenOptions {
  io: UdpIoChoice;
  /**
   * Sockets that share the port, one per worker (SO_REUSEPORT above 1). The native path spreads datagrams over them
   * at random, so that each worker gets its share whatever the clients' addresses; dgram leaves it to the kernel's
   * hash of the source.
   */
  workers: number;
}

/** The I/O a choice resolves to here; throws when 'native' is asked for and the addon did not load. */
export function resolveUdpIo(choice: UdpIoChoice): UdpIo {
  if (choice === 'dgram') return 'dgram';
  if (nativeUdp !== null) return 'native';
  if (choice === 'native') throw new Error(`--udp-io native: the native UDP addon is not available: ${nativeUdpError}`);
  return 'dgram';
}

export function listenUdp(
  handler: UdpHandler,
  host: string,
  port: number,
  log: Logger,
  options: UdpListenOptions,
): Promise<UdpListener> {
  return resolveUdpIo(options.io) === 'native'
    ? Promise.resolve(listenNative(handler, host, port, log, options.workers))
    : listenDgram(handler, host, port, log, options.workers > 1);
}

function listenNative(handler: UdpHandler, host: string, port: number, log: Logger, workers: number): UdpListener {
  if (nativeUdp === null) throw new Error('unreachable: native UDP chosen without the addon');
  const ipv6 = host.includes(':');
  const family = ipv6 ? FAMILY_V6 : FAMILY_V4;
  const outSlot = handler.maxReplySize;
  const buffers = {
    inData: new Uint8Array(BATCH * REQUEST_SLOT),
    inLength: new Int32Array(BATCH),
    inAddr: new Uint8Array(BATCH * 16),
    outData: new Uint8Array(BATCH * outSlot),
    outLength: new Int32Array(BATCH),
  };
  // Views made once, so a batch allocates nothing.
  const requests: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  const replyViews: DataView[] = [];
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    requests.push(buffers.inData.subarray(i * REQUEST_SLOT, (i + 1) * REQUEST_SLOT));
    replies.push(buffers.outData.subarray(i * outSlot, (i + 1) * outSlot));
    replyViews.push(new DataView(buffers.outData.buffer, i * outSlot, outSlot));
    addrs.push(buffers.inAddr.subarray(i * 16, i * 16 + (ipv6 ? 16 : 4)));
  }
  const socket = nativeUdp.open(
    {
      ipv6,
      address: host,
      port,
      reusePort: workers > 1,
      randomSpread: workers > 1 ? workers : 0,
      recvBufferBytes: RECV_BUFFER_BYTES,
      batch: BATCH,
      slotSize: REQUEST_SLOT,
      outSlotSize: outSlot,
    },
    buffers,
  );
  const { inLength, outLength } = buffers;
  socket.start((count) => {
    for (let i = 0; i < count; i++) {
      const length = inLength[i];
      if (length < 0) continue; // larger than any request: not one
      try {
        outLength[i] = handler.handle(requests[i], length, family, addrs[i], replies[i], replyViews[i]);
      } catch (err) {
        // A bug, not bad input (parsers are total): no reply to this one, keep serving, say so.
        log.error({ err }, 'UDP request failed');
      }
    }
  });
  return { port: socket.port, io: 'native', close: () => socket.close() };
}

function listenDgram(
  handler: UdpHandler,
  host: string,
  port: number,
  log: Logger,
  reusePort: boolean,
): Promise<UdpListener> {
  const v6 = host.includes(':');
  const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, reusePort });
  const addr = new Uint8Array(18);
  const out = new Uint8Array(handler.maxReplySize);
  const outView = new DataView(out.buffer);
  socket.on('message', (msg, rinfo) => {
    const family = writeEndpoint(rinfo.address, 0, addr) === IPV4 ? FAMILY_V4 : FAMILY_V6;
    let n: number;
    try {
      n = handler.handle(msg, msg.length, family, addr, out, outView);
    } catch (err) {
      log.error({ err, from: rinfo.address }, 'UDP request failed');
      return;
    }
    if (n === 0) return;
    // send() keeps the buffer until the datagram is out, and `out` is reused: send a copy.
    socket.send(Buffer.from(out.subarray(0, n)), rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      // After start-up an error on the socket (e.g. ICMP unreachable surfacing as EHOSTUNREACH) is not fatal.
      socket.on('error', () => {});
      try {
        socket.setRecvBufferSize(RECV_BUFFER_BYTES);
      } catch {
        // The kernel's limit applies; not worth failing start-up for.
      }
      resolve({ port: socket.address().port, io: 'dgram', close: () => socket.close() });
    });
  });
}
