// UDP listeners on node:dgram: one socket per address, each datagram handed to the UdpHandler.

import dgram from 'node:dgram';
import type { Logger } from '../log.ts';
import { IPV4, writeEndpoint } from '../protocol/ip.ts';
import { FAMILY_V4, FAMILY_V6 } from '../swarm/store.ts';
import type { UdpHandler } from './udp-handler.ts';

/** Kernel receive buffer asked for, so that bursts queue instead of being dropped. */
const RECV_BUFFER_BYTES = 8 * 1024 * 1024;

export function listenUdp(handler: UdpHandler, host: string, port: number, log: Logger): Promise<dgram.Socket> {
  const v6 = host.includes(':');
  const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
  const addr = new Uint8Array(18);
  socket.on('message', (msg, rinfo) => {
    const family = writeEndpoint(rinfo.address, 0, addr) === IPV4 ? FAMILY_V4 : FAMILY_V6;
    let n: number;
    try {
      n = handler.handle(msg, msg.length, family, addr);
    } catch (err) {
      // A bug, not bad input (parsers are total): drop the datagram, keep serving, say so.
      log.error({ err, from: rinfo.address }, 'UDP request failed');
      return;
    }
    if (n === 0) return;
    // send() keeps the buffer until the datagram is out, and the handler reuses its own: send a copy.
    const reply = Buffer.allocUnsafe(n);
    handler.out.copy(reply, 0, 0, n);
    socket.send(reply, rinfo.port, rinfo.address);
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
      resolve(socket);
    });
  });
}
