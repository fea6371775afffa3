// Workers share their ports through SO_REUSEPORT, and the kernel lets any process of the same user join such a
// port: a second swarmd started on our ports would silently take a share of our clients, each half seeing half the
// swarm. So before the workers bind, this thread binds every address once without SO_REUSEPORT and lets go: that
// fails with EADDRINUSE if anything holds the port, with or without SO_REUSEPORT. (Two swarmds started in the same
// instant can still both pass; the window is the workers' start-up.)

import dgram from 'node:dgram';
import net from 'node:net';

/** Resolves once `port` on `host` was free for TCP; rejects with the bind error (code, address, port). */
function probeTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':'), exclusive: true }, () => {
      server.close(() => resolve());
    });
  });
}

/** Resolves once `port` on `host` was free for UDP; rejects with the bind error (code, address, port). */
function probeUdp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const v6 = host.includes(':');
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve()));
  });
}

/** Checks that no other socket holds `port` of `protocol` on `host`. */
export function assertPortFree(protocol: 'http' | 'https' | 'udp', host: string, port: number): Promise<void> {
  return protocol === 'udp' ? probeUdp(host, port) : probeTcp(host, port);
}
