// Runs swarmd as a child process on free ports and talks to it over real sockets: raw HTTP/1.1 and BEP 15 UDP.

import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Swarmd {
  host: string;
  port: number;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts `node src/main.ts` on `hosts` (first one is the test's host) and one free port for HTTP and UDP. One worker
 * unless `extra` says otherwise: the workers' own behaviour is tested in workers.test.ts, and one thread per tracker
 * keeps the parallel test files light.
 */
export async function startSwarmd(hosts: string[], extra: string[] = []): Promise<Swarmd> {
  const port = await freePort();
  const workers = extra.includes('--workers') ? [] : ['--workers', '1'];
  const args = ['--http-port', `${port}`, '--udp-port', `${port}`, ...workers, ...extra];
  for (const h of hosts) args.push('--host', h);
  return spawnSwarmd(args, hosts[0], port);
}

/**
 * Starts `node src/main.ts ARGS` and resolves once it says it is ready; `host` and `port` are where the caller told
 * it to listen. The tests' clients send from loopback, which swarmd's rate limits and repeat cache leave alone unless
 * ARGS say `--rate-limit-exempt none`. `options.cwd` defaults to the repository.
 */
export async function spawnSwarmd(
  args: string[],
  host: string,
  port: number,
  options: { cwd?: string } = {},
): Promise<Swarmd> {
  const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'src/main.ts'), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout?.on('data', (d) => {
    log += d;
  });
  proc.stderr?.on('data', (d) => {
    log += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`swarmd did not start:\n${log}`)), 10_000);
    const check = () => {
      if (log.includes('swarmd ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`swarmd exited with ${code}:\n${log}`));
    });
  });
  return {
    host,
    port,
    proc,
    output: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses one response from `data` at `offset`; null when incomplete. */
export function parseResponse(data: Buffer, offset = 0): { response: HttpResponse; end: number } | null {
  const headEnd = data.indexOf('\r\n\r\n', offset);
  if (headEnd < 0) return null;
  const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (data.length < headEnd + 4 + length) return null;
  return {
    response: { status, headers, body: data.subarray(headEnd + 4, headEnd + 4 + length) },
    end: headEnd + 4 + length,
  };
}

/** A TCP connection to `host`:`port`, once it is established. */
export function openConnection(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends raw bytes on one connection and collects `count` responses (or whatever came before the server closed). */
export function rawHttp(host: string, port: number, request: string | Buffer, count = 1): Promise<HttpResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = Buffer.alloc(0);
    const responses: HttpResponse[] = [];
    let offset = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within 5 s; got ${JSON.stringify(data.toString('latin1'))}`));
    }, 5000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(responses);
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      for (let r = parseResponse(data, offset); r !== null; r = parseResponse(data, offset)) {
        responses.push(r.response);
        offset = r.end;
      }
      if (responses.length >= count) done();
    });
    socket.on('close', done);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(request);
  });
}

/** GET `target` on a fresh connection. */
export async function get(s: { host: string; port: number }, target: string, headers = ''): Promise<HttpResponse> {
  const [response] = await rawHttp(s.host, s.port, `GET ${target} HTTP/1.1\r\nHost: t\r\n${headers}\r\n`);
  if (response === undefined) throw new Error(`no response to ${target}`);
  return response;
}

/** Percent-encodes every byte, as aria2 does. */
export function pct(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

export interface AnnounceParams {
  hash: Buffer;
  peerId?: Buffer;
  port: number;
  left?: number;
  event?: string;
  numwant?: number;
  extra?: string;
}

export function announceTarget(p: AnnounceParams): string {
  const peerId = p.peerId ?? Buffer.from(`-TT0001-${String(p.port).padStart(12, '0')}`);
  let q = `/announce?info_hash=${pct(p.hash)}&peer_id=${pct(peerId)}&port=${p.port}&uploaded=0&downloaded=0`;
  q += `&left=${p.left ?? 1000}`;
  if (p.event) q += `&event=${p.event}`;
  if (p.numwant !== undefined) q += `&numwant=${p.numwant}`;
  return q + (p.extra ?? '');
}

/** A BEP 15 client on one UDP socket of the family of `host`. */
export class UdpClient {
  readonly socket: dgram.Socket;
  private readonly host: string;
  private readonly port: number;
  private tid = 1;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  }

  /** Sends `msg` and resolves with the first datagram back, or null after `timeoutMs`. */
  request(msg: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        resolve(null);
      }, timeoutMs);
      const onMessage = (reply: Buffer) => {
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        resolve(reply);
      };
      this.socket.on('message', onMessage);
      this.socket.send(msg, this.port, this.host);
    });
  }

  nextTid(): number {
    return this.tid++;
  }

  async connect(): Promise<Buffer> {
    const msg = Buffer.alloc(16);
    msg.writeBigUInt64BE(0x41727101980n, 0);
    msg.writeUInt32BE(0, 8);
    msg.writeUInt32BE(this.nextTid(), 12);
    const reply = await this.request(msg);
    if (reply === null || reply.length !== 16 || reply.readUInt32BE(0) !== 0) throw new Error('connect failed');
    return reply.subarray(8, 16);
  }

  announceMessage(
    connectionId: Buffer,
    p: { hash: Buffer; port: number; left?: bigint; event?: number; numwant?: number },
  ): Buffer {
    const msg = Buffer.alloc(98);
    connectionId.copy(msg, 0);
    msg.writeUInt32BE(1, 8);
    msg.writeUInt32BE(this.nextTid(), 12);
    p.hash.copy(msg, 16);
    Buffer.from(`-UU0001-${String(p.port).padStart(12, '0')}`).copy(msg, 36);
    msg.writeBigUInt64BE(p.left ?? 1000n, 64);
    msg.writeUInt32BE(p.event ?? 0, 80);
    msg.writeInt32BE(p.numwant ?? -1, 92);
    msg.writeUInt16BE(p.port, 96);
    return msg;
  }

  close(): void {
    this.socket.close();
  }
}

/** Splits a compact peer string into "address:port" strings (6 or 18 bytes each). */
export function compactPeers(bytes: Uint8Array, size: 6 | 18): string[] {
  const out: string[] = [];
  for (let i = 0; i + size <= bytes.length; i += size) {
    const port = (bytes[i + size - 2] << 8) | bytes[i + size - 1];
    const addr =
      size === 6
        ? [...bytes.subarray(i, i + 4)].join('.')
        : Buffer.from(bytes.subarray(i, i + 16))
            .toString('hex')
            .replace(/(.{4})(?!$)/g, '$1:');
    out.push(`${addr}:${port}`);
  }
  return out;
}
