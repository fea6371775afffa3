// Free ports for tests: one number free for TCP and UDP on IPv4 and IPv6, never handed out twice in a test run.
//
// `node --test` runs test files in parallel processes, and a port released here may be the next one the kernel
// offers another process; two swarmd with several workers would then share it through SO_REUSEPORT. So every
// process claims its ports in one directory (a file per port, created exclusively) before using them.

import dgram from 'node:dgram';
import { closeSync, mkdirSync, openSync, statSync, utimesSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CLAIMS = path.join(tmpdir(), 'swarmd-test-ports');
/** A claim older than this is left over from an earlier run. */
const CLAIM_LIFETIME_MS = 30 * 60_000;

/** True if this process now owns `port` for the run: no live claim from another process exists. */
function claim(port: number): boolean {
  mkdirSync(CLAIMS, { recursive: true });
  const file = path.join(CLAIMS, String(port));
  try {
    closeSync(openSync(file, 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (Date.now() - statSync(file).mtimeMs < CLAIM_LIFETIME_MS) return false;
  const now = new Date();
  utimesSync(file, now, now);
  return true;
}

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
    if (udpFree && claim(port)) return port;
  }
  throw new Error('no port free for both TCP and UDP after 50 attempts');
}
