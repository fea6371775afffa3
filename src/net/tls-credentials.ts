// The HTTPS certificate and key: read and checked as a pair at start (a bad pair stops start-up with one line), and
// read again on SIGHUP or when either file changes. A new pair goes to the listeners only once it has passed every
// check, so an ACME client caught half-way through writing the two files, or a wrong key, leaves the old pair in force.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import tls from 'node:tls';
import { FileWatch } from '../file-watch.ts';
import type { Logger } from '../log.ts';

/** What an HTTPS listener needs: the chain and key as PEM text (plain data, so it crosses to worker threads). */
export interface TlsPair {
  cert: string;
  key: string;
}

/** The secure context of every HTTPS listener for `pair`: TLS 1.2 and 1.3 only. */
export function tlsOptions(pair: TlsPair): tls.SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' };
}

export class TlsPairError extends Error {
  override name = 'TlsPairError';
}

/** A pair that passed the checks, with what the log says of it. */
export interface CheckedPair {
  pair: TlsPair;
  subject: string;
  notAfter: string;
  fingerprint: string;
  /** Certificates in the chain file. */
  chain: number;
  /** Problems that do not stop the pair from serving (expiry, a missing intermediate, a readable key). */
  warnings: string[];
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new TlsPairError(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** The message of an OpenSSL error without its code prefix ("error:0480006C:PEM routines::no start line"). */
function opensslReason(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  return message.replace(/^error:[0-9A-F]+:/, '').split('\n')[0];
}

/** Reads `certFile` and `keyFile` and checks that they make a pair that can serve; throws TlsPairError otherwise. */
export async function readTlsPair(certFile: string, keyFile: string, now = new Date()): Promise<CheckedPair> {
  const cert = await readText(certFile, 'certificate');
  const key = await readText(keyFile, 'key');
  const chain = cert.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (chain === 0) throw new TlsPairError(`${certFile} holds no PEM certificate (BEGIN CERTIFICATE)`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsPairError(`${certFile}: not a valid certificate: ${opensslReason(err)}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsPairError(`${keyFile}: not an unencrypted PEM private key: ${opensslReason(err)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsPairError(`the key in ${keyFile} does not match the certificate in ${certFile}`);
  }
  const pair = { cert, key };
  try {
    tls.createSecureContext(tlsOptions(pair));
  } catch (err) {
    throw new TlsPairError(`${certFile} and ${keyFile} cannot serve TLS: ${opensslReason(err)}`);
  }

  const warnings: string[] = [];
  if (new Date(leaf.validTo) < now) warnings.push(`the certificate expired on ${leaf.validTo}`);
  if (new Date(leaf.validFrom) > now) warnings.push(`the certificate is not valid before ${leaf.validFrom}`);
  if (chain === 1 && leaf.issuer !== leaf.subject) {
    warnings.push(
      `${certFile} holds the server's certificate without its intermediates; clients that do not fetch them ` +
        '(libtorrent, qBittorrent) refuse it: give the full chain',
    );
  }
  const keyMode = (await stat(keyFile)).mode;
  if ((keyMode & 0o004) !== 0) warnings.push(`${keyFile} is readable by every user of this machine`);
  return {
    pair,
    subject: leaf.subject.replaceAll('\n', ', '),
    notAfter: leaf.validTo,
    fingerprint: leaf.fingerprint256,
    chain,
    warnings,
  };
}

/**
 * The pair in force, kept up to date: `reload` (SIGHUP, or a change of either file once `watch` runs) reads both
 * files again and hands a good new pair to `apply`; anything wrong is logged and the pair in force stays.
 */
export class TlsCredentials {
  readonly certFile: string;
  readonly keyFile: string;
  current: CheckedPair;
  private readonly log: Logger;
  private readonly apply: (pair: TlsPair) => void;
  private watcher: FileWatch | null = null;
  /** The reload running, and whether another was asked for meanwhile (it then runs once more, after). */
  private running: Promise<boolean> | null = null;
  private again = false;

  private constructor(certFile: string, keyFile: string, first: CheckedPair, log: Logger, apply: (p: TlsPair) => void) {
    this.certFile = certFile;
    this.keyFile = keyFile;
    this.current = first;
    this.log = log;
    this.apply = apply;
  }

  /** Reads the pair for start-up; throws TlsPairError (the start-up stops) when it cannot serve. */
  static async load(
    certFile: string,
    keyFile: string,
    log: Logger,
    apply: (pair: TlsPair) => void,
  ): Promise<TlsCredentials> {
    const first = await readTlsPair(certFile, keyFile);
    const credentials = new TlsCredentials(certFile, keyFile, first, log, apply);
    credentials.report(first, 'TLS certificate loaded', 'start');
    return credentials;
  }

  /** Reads the files again; resolves true when a new pair is now in force. */
  reload(why: string): Promise<boolean> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<boolean> => {
      let changed = false;
      do {
        this.again = false;
        changed = (await this.readOnce(why)) || changed;
      } while (this.again);
      this.running = null;
      return changed;
    };
    this.running = run();
    return this.running;
  }

  /** Reloads when either file changes; a burst of writes (chain, then key) gives one reload after it settles. */
  watch(): void {
    if (this.watcher !== null) return;
    this.watcher = new FileWatch([this.certFile, this.keyFile], () => void this.reload('file changed'), {
      debounceMs: 500,
      failed: (reason) => {
        this.log.error({ cert: this.certFile, reason }, 'watching the TLS files failed; reload with SIGHUP');
        this.watcher = null;
      },
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private async readOnce(why: string): Promise<boolean> {
    let next: CheckedPair;
    try {
      next = await readTlsPair(this.certFile, this.keyFile);
    } catch (err) {
      const reason = err instanceof TlsPairError ? err.message : String(err);
      this.log.error(
        { why, reason, notAfter: this.current.notAfter },
        'new TLS certificate refused; the one in force stays',
      );
      return false;
    }
    const { cert, key } = this.current.pair;
    if (next.pair.cert === cert && next.pair.key === key) return false;
    this.apply(next.pair);
    this.current = next;
    this.report(next, 'TLS certificate reloaded', why);
    return true;
  }

  private report(checked: CheckedPair, message: string, why: string): void {
    const { subject, notAfter, fingerprint, chain } = checked;
    this.log.info({ why, cert: this.certFile, subject, notAfter, chain, fingerprint }, message);
    for (const warning of checked.warnings) this.log.warn({ cert: this.certFile }, warning);
  }
}
