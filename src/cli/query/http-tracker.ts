// GET of an HTTP(S) tracker URL: a few redirects followed, gzip accepted and unpacked within a bound, TLS checked
// against the system's roots or --ca. Every failure becomes a QueryError with a reason an operator can act on.

import http from 'node:http';
import https from 'node:https';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { formatHostPort } from '../../config/values.ts';
import { BencodeError, type BValue, decode } from '../../protocol/bencode.ts';
import { excerpt } from '../../protocol/text-lines.ts';
import { elapsedMs, QueryError, type Transport, timedOut } from './exchange.ts';

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** A full scrape of a big tracker runs to megabytes; beyond this it is not a reply worth reading. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** Deep enough for any tracker reply; a hostile one cannot make the decoder work hard. */
const MAX_REPLY_DEPTH = 16;

const gunzipAsync = promisify(gunzip);

export interface HttpSettings {
  userAgent: string;
  /** PEM CA certificates trusted instead of the system's; null for the system's. */
  ca: Buffer | null;
  insecure: boolean;
}

/** GETs `href`, following redirects, and returns the body of the final 200 reply, unpacked. */
export async function httpGet(href: string, settings: HttpSettings, t: Transport): Promise<Uint8Array> {
  let url = new URL(href);
  for (let hops = 0; ; hops++) {
    t.exchange.url = url.href;
    t.trace('Request', `GET ${url.href}`);
    const start = performance.now();
    const res = await send(url, settings, t);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      res.resume();
      const next = redirectTarget(location, url);
      t.exchange.redirects.push({ status, location: next.href });
      t.trace('Redirect', `${status} → ${next.href}`);
      if (hops === MAX_REDIRECTS) throw new QueryError(`more than ${MAX_REDIRECTS} redirects`);
      url = next;
      continue;
    }
    const raw = await readBody(res, url, t);
    const encoding = res.headers['content-encoding']?.toLowerCase() ?? 'identity';
    const body = await unpack(raw, encoding);
    t.exchange.status = status;
    t.exchange.bytes = raw.length;
    t.exchange.timeMs = elapsedMs(start);
    const unpacked = body === raw ? '' : ` (${encoding}, ${body.length} unpacked)`;
    t.trace('Reply', `${status} ${res.statusMessage ?? ''}, ${raw.length} bytes${unpacked} in ${t.exchange.timeMs} ms`);
    if (status !== 200) throw new QueryError(`HTTP ${status} ${res.statusMessage ?? ''}${failureIn(body)}`);
    return body;
  }
}

/** Decodes a tracker's bencoded body. Key order is not checked: the tool reports what a tracker said. */
export function decodeReply(body: Uint8Array): BValue {
  if (body.length === 0) throw new QueryError('undecodable reply: the body is empty');
  try {
    return decode(body, { maxDepth: MAX_REPLY_DEPTH, sortedKeys: false });
  } catch (err) {
    if (!(err instanceof BencodeError)) throw err;
    throw new QueryError(`undecodable reply: ${err.message}; it starts ${excerpt(body, 0, body.length)}`);
  }
}

function send(url: URL, settings: HttpSettings, t: Transport): Promise<http.IncomingMessage> {
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = {
    // No keep-alive: one request per connection, and nothing left open when the tool is done.
    agent: false,
    signal: t.signal,
    headers: { 'User-Agent': settings.userAgent, 'Accept-Encoding': 'gzip', Connection: 'close' },
  };
  if (secure) {
    options.rejectUnauthorized = !settings.insecure;
    if (settings.ca !== null) options.ca = settings.ca;
  }
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(url, options, (res) => {
      describeConnection(res, t);
      resolve(res);
    });
    req.on('error', (err) => reject(networkError(err, url, t)));
    req.end();
  });
}

function describeConnection(res: http.IncomingMessage, t: Transport): void {
  const socket = res.socket;
  if (socket.remoteAddress !== undefined && socket.remotePort !== undefined) {
    t.exchange.address = formatHostPort(socket.remoteAddress, socket.remotePort);
    t.trace('Address', t.exchange.address);
  }
  if (!(socket instanceof TLSSocket)) return;
  const cert = socket.getPeerCertificate();
  const tls = {
    protocol: socket.getProtocol(),
    subject: cert.subject?.CN === undefined ? null : String(cert.subject.CN),
    issuer: cert.issuer?.CN === undefined ? null : String(cert.issuer.CN),
    verified: socket.authorized,
    problem: verificationProblem(socket),
  };
  t.exchange.tls = tls;
  const trust = tls.verified ? 'verified' : `NOT verified (-k): ${tls.problem ?? 'no reason given'}`;
  t.trace(
    'TLS',
    `${tls.protocol ?? '?'}, certificate of ${tls.subject ?? '?'} issued by ${tls.issuer ?? '?'}, ${trust}`,
  );
}

/** Node gives the reason as an OpenSSL code string at run time, though its types say Error. */
function verificationProblem(socket: TLSSocket): string | null {
  const problem = socket.authorizationError as Error | string | undefined | null;
  if (problem === undefined || problem === null) return null;
  return typeof problem === 'string' ? problem : problem.message;
}

function redirectTarget(location: string, from: URL): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new QueryError(`redirect to '${location}', which is not a URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new QueryError(`redirect to ${next.href}, which is not http:// or https://`);
  }
  return next;
}

async function readBody(res: http.IncomingMessage, url: URL, t: Transport): Promise<Buffer> {
  const tooLarge = () => new QueryError(`the reply is larger than ${MAX_REPLY_BYTES} bytes`);
  if (Number(res.headers['content-length']) > MAX_REPLY_BYTES) {
    res.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > MAX_REPLY_BYTES) {
        res.destroy();
        throw tooLarge();
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof QueryError) throw err;
    throw networkError(err as Error, url, t);
  }
  return Buffer.concat(chunks);
}

async function unpack(raw: Buffer, encoding: string): Promise<Buffer> {
  if (encoding === 'identity') return raw;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') throw new QueryError(`the reply is in '${encoding}', not gzip`);
  try {
    return await gunzipAsync(raw, { maxOutputLength: MAX_REPLY_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new QueryError(`the gzip reply unpacks to more than ${MAX_REPLY_BYTES} bytes`);
    }
    throw new QueryError(`the gzip reply does not unpack: ${(err as Error).message}`);
  }
}

/** A non-200 reply may still say why in bencode. */
function failureIn(body: Uint8Array): string {
  try {
    const value = decode(body, { maxDepth: MAX_REPLY_DEPTH, sortedKeys: false });
    const reason =
      typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) && value['failure reason'];
    return reason instanceof Uint8Array ? `: ${Buffer.from(reason).toString('utf8')}` : '';
  } catch {
    return '';
  }
}

function networkError(err: Error, url: URL, t: Transport): QueryError {
  if (t.signal.aborted) return timedOut(t, `a reply from ${url.host}`);
  // Several addresses of one name tried in turn fail together; the first says enough.
  const cause = (
    err instanceof AggregateError && err.errors.length > 0 ? err.errors[0] : err
  ) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
  };
  const code = cause.code ?? '';
  if (cause.address !== undefined && cause.port !== undefined) {
    t.exchange.address = formatHostPort(cause.address, cause.port);
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new QueryError(`connection refused by ${t.exchange.address ?? url.host}`);
    case 'ECONNRESET':
      return new QueryError(`connection reset by ${t.exchange.address ?? url.host}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new QueryError(`cannot resolve ${url.hostname}`);
  }
  if (/CERT|SIGNATURE|ISSUER/.test(code)) {
    return new QueryError(`TLS: ${cause.message} (${code}); trust its CA with --ca FILE, or skip the check with -k`);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return new QueryError(`TLS: ${cause.message}`);
  return new QueryError(code === '' ? cause.message : `${cause.message} (${code})`);
}
