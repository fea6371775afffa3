// Free ports for tests: one number free for TCP and UDP on IPv4 and IPv6, never handed out twice in a process.

import dgram from 'node:dgram';
import net from 'node:net';

const handedOut = new Set<number>();

/**
 * A port free for TCP and UDP on both IPv4 and IPv6 (a dual-stack wildcard bind checks all four), released before
 * returning. Trackers listen on the same number for HTTP and UDP, and libtorrent/aria2 bind UDP beside TCP.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '::', port: 0 }, resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    const udp = dgram.createSocket('udp6');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind({ address: '::', port, exclusive: true }, () => resolve(true));
    });
    udp.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (udpFree && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no port free for both TCP and UDP after 50 attempts');
}
