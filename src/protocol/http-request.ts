// A strict, bounded HTTP/1.x request-head parser for the tracker's GET requests. It reads only what the tracker
// needs (method, target, version, connection, accept-encoding, body framing) and refuses everything ambiguous.

import { decimalDigits, writeDecimal } from './decimal.ts';

export const HEAD_INCOMPLETE = 0;
export const HEAD_OK = 1;
export const HEAD_ERROR = 2;

export interface RequestHead {
  /** Absolute offsets of the request target in the buffer; `queryStart` is one past '?' or `targetEnd`. */
  targetStart: number;
  pathEnd: number;
  queryStart: number;
  targetEnd: number;
  isGet: boolean;
  /** A HEAD request: its response must not carry a body (RFC 9110 §9.3.2). */
  isHead: boolean;
  /** 10 for HTTP/1.0, 11 for HTTP/1.1. */
  version: number;
  keepAlive: boolean;
  acceptsGzip: boolean;
  /** Offset one past the blank line that ends the head. */
  headEnd: number;
  /** Status and reason when parseRequestHead returned HEAD_ERROR. */
  errorStatus: number;
  errorReason: string;
  /**
   * Proxy headers, in the order received: (PROXY_* kind, value start, value end) triples, the last
   * MAX_PROXY_HEADERS of them (the rightmost addresses are the ones a trusted proxy vouches for).
   */
  proxyHeaders: Int32Array;
  proxyHeaderCount: number;
}

export const PROXY_X_FORWARDED_FOR = 1;
export const PROXY_X_REAL_IP = 2;
export const PROXY_FORWARDED = 3;
export const MAX_PROXY_HEADERS = 8;

export function createRequestHead(): RequestHead {
  return {
    targetStart: 0,
    pathEnd: 0,
    queryStart: 0,
    targetEnd: 0,
    isGet: false,
    isHead: false,
    version: 11,
    keepAlive: true,
    acceptsGzip: false,
    headEnd: 0,
    errorStatus: 0,
    errorReason: '',
    proxyHeaders: new Int32Array(MAX_PROXY_HEADERS * 3),
    proxyHeaderCount: 0,
  };
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const COLON = 0x3a;

function fail(head: RequestHead, status: number, reason: string): number {
  head.errorStatus = status;
  head.errorReason = reason;
  return HEAD_ERROR;
}

/** Token characters of RFC 9110 (header names, methods). */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** Bytes allowed in a request target: visible ASCII. */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) TARGET[c] = 1;
/** The same without '?', which ends the path. */
const PATH = TARGET.slice();
PATH[0x3f] = 0;

/**
 * Parses the request head in `buf[start, end)`. Returns HEAD_INCOMPLETE until a blank line arrives (the caller bounds
 * how much it buffers), HEAD_OK with `head` filled, or HEAD_ERROR with a status to answer before closing.
 * Lines end in CRLF or a bare LF. A request with a body (Content-Length > 0 or any Transfer-Encoding) is refused:
 * tracker requests have none, and refusing them rules out request smuggling.
 */
export function parseRequestHead(buf: Uint8Array, start: number, end: number, head: RequestHead): number {
  // Nothing is parsed before a blank line is there, so that a head trickling in is not parsed again and again. A
  // blank line at the very end (one request, whole) is the common case and needs no search.
  const n = end - start;
  const blankAtEnd =
    n >= 2 && buf[end - 1] === LF && (buf[end - 2] === LF || (n >= 3 && buf[end - 2] === CR && buf[end - 3] === LF));
  if (!blankAtEnd && findHeadEnd(buf, start, end) < 0) return HEAD_INCOMPLETE;
  const status = parseLines(buf, start, end, head);
  // An error can come before the blank line is reached; the caller still needs to know where the head ends.
  if (status === HEAD_ERROR) head.headEnd = findHeadEnd(buf, start, end);
  return status;
}

/** One past the first blank line in `buf[start, end)`, or -1. */
function findHeadEnd(buf: Uint8Array, start: number, end: number): number {
  for (let i = buf.indexOf(LF, start); i >= 0 && i < end; i = buf.indexOf(LF, i + 1)) {
    if (i + 1 < end && buf[i + 1] === LF) return i + 2;
    if (i + 2 < end && buf[i + 1] === CR && buf[i + 2] === LF) return i + 3;
  }
  return -1;
}

/**
 * Parses the request line and header fields up to the blank line, which the caller knows is in `buf[start, end)`:
 * every loop stops at a line's end, so none runs past it. Sets `head.headEnd` on success.
 */
function parseLines(buf: Uint8Array, start: number, end: number, head: RequestHead): number {
  // Request line: METHOD SP target SP HTTP/1.x
  let i = start;
  while (TOKEN[buf[i]]) i++;
  if (i === start || buf[i] !== SP) return fail(head, 400, 'malformed request line');
  head.isGet = i - start === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54;
  head.isHead =
    i - start === 4 &&
    buf[start] === 0x48 &&
    buf[start + 1] === 0x45 &&
    buf[start + 2] === 0x41 &&
    buf[start + 3] === 0x44;
  const targetStart = ++i;
  while (PATH[buf[i]]) i++;
  const pathEnd = i;
  if (buf[i] === 0x3f) {
    i++;
    while (TARGET[buf[i]]) i++;
  }
  head.targetStart = targetStart;
  head.pathEnd = pathEnd;
  head.queryStart = i === pathEnd ? pathEnd : pathEnd + 1;
  head.targetEnd = i;
  if (i === targetStart || buf[i] !== SP || buf[targetStart] !== 0x2f) {
    return fail(head, 400, 'malformed request target');
  }
  i++;
  // HTTP/1.0 or HTTP/1.1
  if (
    i + 8 > end ||
    buf[i] !== 0x48 ||
    buf[i + 1] !== 0x54 ||
    buf[i + 2] !== 0x54 ||
    buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f ||
    buf[i + 5] !== 0x31 ||
    buf[i + 6] !== 0x2e ||
    (buf[i + 7] !== 0x30 && buf[i + 7] !== 0x31)
  ) {
    return fail(head, 505, 'HTTP version not supported');
  }
  head.version = buf[i + 7] === 0x31 ? 11 : 10;
  head.keepAlive = head.version === 11;
  head.acceptsGzip = false;
  head.proxyHeaderCount = 0;
  i += 8;
  i = lineEnd(buf, i);
  if (i < 0) return fail(head, 400, 'malformed request line');

  // Header fields, up to the blank line.
  for (;;) {
    if (buf[i] === LF) {
      head.headEnd = i + 1;
      return HEAD_OK;
    }
    if (buf[i] === CR && buf[i + 1] === LF) {
      head.headEnd = i + 2;
      return HEAD_OK;
    }
    const nameStart = i;
    while (TOKEN[buf[i]]) i++;
    const nameEnd = i;
    if (nameEnd === nameStart || buf[i] !== COLON) return fail(head, 400, 'malformed header field');
    i++;
    while (buf[i] === SP || buf[i] === 0x09) i++;
    const valueStart = i;
    while (buf[i] !== CR && buf[i] !== LF) {
      if (buf[i] < SP && buf[i] !== 0x09) return fail(head, 400, 'control character in header field');
      i++;
    }
    let valueEnd = i;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === 0x09)) valueEnd--;
    i = lineEnd(buf, i);
    if (i < 0) return fail(head, 400, 'malformed header field');
    const status = readHeader(buf, nameStart, nameEnd, valueStart, valueEnd, head);
    if (status !== 0) return status;
  }
}

/** Steps over CRLF or LF at `i`; -1 if neither is there. */
function lineEnd(buf: Uint8Array, i: number): number {
  if (buf[i] === CR && buf[i + 1] === LF) return i + 2;
  if (buf[i] === LF) return i + 1;
  return -1;
}

function nameIs(buf: Uint8Array, start: number, end: number, lowerName: string): boolean {
  if (end - start !== lowerName.length) return false;
  for (let k = 0; k < lowerName.length; k++) if ((buf[start + k] | 0x20) !== lowerName.charCodeAt(k)) return false;
  return true;
}

function valueText(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start)
    .toString('latin1')
    .toLowerCase();
}

function readHeader(buf: Uint8Array, ns: number, ne: number, vs: number, ve: number, head: RequestHead): number {
  const len = ne - ns;
  if (len === 10 && nameIs(buf, ns, ne, 'connection')) {
    const v = valueText(buf, vs, ve);
    if (/(^|[\s,])close($|[\s,])/.test(v)) head.keepAlive = false;
    else if (/(^|[\s,])keep-alive($|[\s,])/.test(v)) head.keepAlive = true;
  } else if (len === 15 && nameIs(buf, ns, ne, 'accept-encoding')) {
    head.acceptsGzip = acceptsGzip(valueText(buf, vs, ve));
  } else if (len === 15 && nameIs(buf, ns, ne, 'x-forwarded-for')) {
    addProxyHeader(head, PROXY_X_FORWARDED_FOR, vs, ve);
  } else if (len === 9 && nameIs(buf, ns, ne, 'x-real-ip')) {
    addProxyHeader(head, PROXY_X_REAL_IP, vs, ve);
  } else if (len === 9 && nameIs(buf, ns, ne, 'forwarded')) {
    addProxyHeader(head, PROXY_FORWARDED, vs, ve);
  } else if (len === 14 && nameIs(buf, ns, ne, 'content-length')) {
    if (!/^0+$/.test(valueText(buf, vs, ve))) return fail(head, 400, 'requests with a body are not accepted');
  } else if (len === 17 && nameIs(buf, ns, ne, 'transfer-encoding')) {
    return fail(head, 400, 'requests with a body are not accepted');
  }
  return 0;
}

function addProxyHeader(head: RequestHead, kind: number, start: number, end: number): void {
  const h = head.proxyHeaders;
  if (head.proxyHeaderCount === MAX_PROXY_HEADERS) {
    h.copyWithin(0, 3);
    head.proxyHeaderCount--;
  }
  const at = head.proxyHeaderCount++ * 3;
  h[at] = kind;
  h[at + 1] = start;
  h[at + 2] = end;
}

/**
 * True when an Accept-Encoding value accepts gzip: gzip (or x-gzip) listed with q > 0, or, when gzip is not listed
 * at all, `*` with q > 0 (RFC 9110 §12.5.3: `*` covers only the codings not named).
 */
export function acceptsGzip(value: string): boolean {
  let star = false;
  for (const item of value.split(',')) {
    const [coding, ...params] = item.trim().split(';');
    const name = coding.trim();
    if (name !== 'gzip' && name !== '*' && name !== 'x-gzip') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const accepted = q === undefined || Number.parseFloat(q.slice(2)) > 0;
    if (name !== '*') return accepted;
    star = accepted;
  }
  return star;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** `HTTP/1.1 <status> <text>\r\nContent-Type: <type>\r\nContent-Length: `, by status and type, made once each. */
const headPrefixes = new Map<number, Map<string, Uint8Array>>();

/** The last prefix asked for: nearly every response is a 200 of the same type, and it is asked for three times. */
let lastStatus = 0;
let lastType = '';
let lastPrefix: Uint8Array = new Uint8Array(0);

function headPrefix(status: number, contentType: string): Uint8Array {
  if (status === lastStatus && contentType === lastType) return lastPrefix;
  let byType = headPrefixes.get(status);
  if (byType === undefined) {
    byType = new Map();
    headPrefixes.set(status, byType);
  }
  let prefix = byType.get(contentType);
  if (prefix === undefined) {
    const text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: ${contentType}\r\nContent-Length: `;
    prefix = Buffer.from(text, 'latin1');
    byType.set(contentType, prefix);
  }
  lastStatus = status;
  lastType = contentType;
  lastPrefix = prefix;
  return prefix;
}

/**
 * Writes a complete response head into `out` at `off` and returns the offset after it.
 * `extra` holds whole header lines (each ending in CRLF), e.g. `Content-Encoding: gzip\r\n`.
 * The fixed part is copied from bytes made once; no string is built per response.
 */
export function writeResponseHead(
  out: Uint8Array,
  off: number,
  status: number,
  contentType: string,
  contentLength: number,
  keepAlive: boolean,
  extra = '',
): number {
  const prefix = headPrefix(status, contentType);
  out.set(prefix, off);
  let at = writeDecimal(out, off + prefix.length, contentLength);
  at = writeAscii(out, at, keepAlive ? AFTER_LENGTH : AFTER_LENGTH_CLOSE);
  at = writeAscii(out, at, extra);
  return writeAscii(out, at, '\r\n');
}

/** The bytes writeResponseHead writes for the same arguments, without writing them. */
export function responseHeadSize(
  status: number,
  contentType: string,
  contentLength: number,
  keepAlive: boolean,
  extra = '',
): number {
  const after = keepAlive ? AFTER_LENGTH : AFTER_LENGTH_CLOSE;
  return headPrefix(status, contentType).length + decimalDigits(contentLength) + after.length + extra.length + 2;
}

/** What follows the Content-Length value: the end of that line, and `Connection: close` when the response closes. */
const AFTER_LENGTH = '\r\n';
const AFTER_LENGTH_CLOSE = '\r\nConnection: close\r\n';

function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let k = 0; k < text.length; k++) out[at + k] = text.charCodeAt(k);
  return at + text.length;
}
