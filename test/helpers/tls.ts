// Certificates made on the spot with the openssl CLI: a private CA and server certificates it signs, for the HTTPS
// tests (a real chain, as an ACME client installs it: leaf then intermediate-or-CA in fullchain.pem).

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { type HttpResponse, parseResponse } from './swarmd.ts';

const run = promisify(execFile);

export interface Ca {
  dir: string;
  /** The CA certificate (PEM file) clients trust. */
  certFile: string;
  keyFile: string;
}

export interface Issued {
  /** Leaf then CA, as fullchain.pem. */
  chainFile: string;
  keyFile: string;
}

/** A new CA in a new temporary directory; remove it with `removeCa`. */
export async function makeCa(): Promise<Ca> {
  const dir = await mkdtemp(path.join(tmpdir(), 'swarmd-tls-'));
  const certFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'ca.key');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=swarmd test CA',
  ]);
  return { dir, certFile, keyFile };
}

export async function removeCa(ca: Ca | undefined): Promise<void> {
  if (ca !== undefined) await rm(ca.dir, { recursive: true, force: true });
}

/** A certificate for localhost, 127.0.0.1 and ::1 signed by `ca`, written as `name`.pem (chain) and `name`.key. */
export async function issue(ca: Ca, name: string, dir = ca.dir): Promise<Issued> {
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const leaf = path.join(dir, `${name}.leaf.pem`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
  await run('openssl', ['req', ...newKey, '-out', csr, '-subj', `/CN=localhost ${name}`]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    `0x${Buffer.from(name).toString('hex')}`,
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    leaf,
  ]);
  const chainFile = path.join(dir, `${name}.pem`);
  await writeFile(chainFile, `${await readFile(leaf, 'utf8')}${await readFile(ca.certFile, 'utf8')}`);
  return { chainFile, keyFile };
}

/** One HTTPS connection that keeps its certificate's fingerprint and can send several requests. */
export class HttpsConnection {
  readonly socket: tls.TLSSocket;
  readonly fingerprint: string;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    this.fingerprint = socket.getPeerCertificate().fingerprint256;
  }

  /** Connects to `host`:`port` trusting only `caFile`'s CA, with the given TLS versions. */
  static async open(
    host: string,
    port: number,
    caFile: string,
    versions: Pick<tls.ConnectionOptions, 'minVersion' | 'maxVersion'> = {},
  ): Promise<HttpsConnection> {
    const ca = await readFile(caFile);
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host, port, ca, servername: 'localhost', ...versions }, () => resolve(s));
      s.once('error', reject);
    });
    return new HttpsConnection(socket);
  }

  /** GET `target`; resolves with the response. */
  get(target: string): Promise<HttpResponse> {
    return this.request(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  }

  /** Sends `request` as it is; resolves with the first response. */
  request(request: string): Promise<HttpResponse> {
    const target = request.slice(0, 60);
    return new Promise((resolve, reject) => {
      let data = Buffer.alloc(0);
      const timer = setTimeout(() => done(new Error(`no response to ${target} within 5 s`)), 5000);
      const onData = (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const r = parseResponse(data);
        if (r !== null) done(null, r.response);
      };
      const onClose = () => done(new Error(`connection closed before the response to ${target}`));
      const done = (err: Error | null, response?: HttpResponse) => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        this.socket.off('close', onClose);
        if (err !== null) reject(err);
        else if (response !== undefined) resolve(response);
      };
      this.socket.on('data', onData);
      this.socket.once('close', onClose);
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
