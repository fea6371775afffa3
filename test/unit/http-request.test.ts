import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  acceptsGzip,
  createRequestHead,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  HEAD_OK,
  parseRequestHead,
  type RequestHead,
  writeResponseHead,
} from '../../src/protocol/http-request.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function parse(text: string | Uint8Array, start = 0, end?: number): { result: number; head: RequestHead } {
  const buf = typeof text === 'string' ? latin1(text) : text;
  const head = createRequestHead();
  const result = parseRequestHead(buf, start, end ?? buf.length, head);
  return { result, head };
}

const slice = (buf: Buffer, from: number, to: number): string => buf.subarray(from, to).toString('latin1');

test('a valid HTTP/1.1 GET with headers parses, with the right offsets', () => {
  const text = 'GET /announce?info_hash=%12%34&port=1 HTTP/1.1\r\nHost: tracker:6969\r\nUser-Agent: x/1\r\n\r\n';
  const buf = latin1(text);
  const { result, head } = parse(buf);
  assert.equal(result, HEAD_OK);
  assert.equal(head.isGet, true);
  assert.equal(head.version, 11);
  assert.equal(head.keepAlive, true);
  assert.equal(head.acceptsGzip, false);
  assert.equal(head.headEnd, buf.length);
  assert.equal(head.targetStart, 4);
  assert.equal(slice(buf, head.targetStart, head.pathEnd), '/announce');
  assert.equal(slice(buf, head.queryStart, head.targetEnd), 'info_hash=%12%34&port=1');
  assert.equal(head.queryStart, head.pathEnd + 1);
});

test('HTTP/1.0, bare LF line ends, a target without a query, and a nonzero start', () => {
  const prefix = 'GET /previous HTTP/1.1\r\n\r\n';
  const text = `${prefix}GET /scrape HTTP/1.0\nHost: a\n\nGET /next HTTP/1.1\r\n\r\n`;
  const buf = latin1(text);
  const { result, head } = parse(buf, prefix.length);
  assert.equal(result, HEAD_OK);
  assert.equal(head.version, 10);
  assert.equal(head.keepAlive, false);
  assert.equal(slice(buf, head.targetStart, head.targetEnd), '/scrape');
  assert.equal(head.pathEnd, head.targetEnd);
  assert.equal(head.queryStart, head.targetEnd);
  // headEnd stops at the first blank line; the next pipelined request is left alone.
  assert.equal(slice(buf, head.headEnd, buf.length), 'GET /next HTTP/1.1\r\n\r\n');
  // A request line alone, and an empty query.
  assert.equal(parse('GET / HTTP/1.1\r\n\r\n').result, HEAD_OK);
  assert.equal(parse('GET / HTTP/1.1\n\n').result, HEAD_OK);
  const q = parse('GET /a? HTTP/1.1\r\n\r\n').head;
  assert.deepEqual([q.pathEnd, q.queryStart, q.targetEnd], [6, 7, 7]);
  // Only the first '?' splits path from query.
  const qq = latin1('GET /a?b?c HTTP/1.1\r\n\r\n');
  const h = parse(qq).head;
  assert.equal(slice(qq, h.queryStart, h.targetEnd), 'b?c');
});

test('other methods parse with isGet false', () => {
  for (const method of ['POST', 'HEAD', 'get', 'GETX', 'OPTIONS', 'X-Y']) {
    const { result, head } = parse(`${method} / HTTP/1.1\r\n\r\n`);
    assert.equal(result, HEAD_OK, method);
    assert.equal(head.isGet, false, method);
  }
});

test('keep-alive defaults and Connection overrides', () => {
  const keepAlive = (version: string, headers = '') => {
    const { result, head } = parse(`GET / HTTP/${version}\r\n${headers}\r\n`);
    assert.equal(result, HEAD_OK);
    return head.keepAlive;
  };
  assert.equal(keepAlive('1.1'), true);
  assert.equal(keepAlive('1.0'), false);
  assert.equal(keepAlive('1.1', 'Connection: close\r\n'), false);
  assert.equal(keepAlive('1.1', 'connection: Close\r\n'), false);
  assert.equal(keepAlive('1.1', 'Connection: Upgrade, close\r\n'), false);
  assert.equal(keepAlive('1.0', 'Connection: keep-alive\r\n'), true);
  assert.equal(keepAlive('1.0', 'CONNECTION: Keep-Alive\r\n'), true);
  assert.equal(keepAlive('1.0', 'Connection: TE, keep-alive\r\n'), true);
  assert.equal(keepAlive('1.0', 'Connection: keep-alive, close\r\n'), false);
  assert.equal(keepAlive('1.0', 'Connection: keep-alived\r\n'), false);
  assert.equal(keepAlive('1.1', 'Connection: closed\r\n'), true);
  assert.equal(keepAlive('1.1', 'Connection: Upgrade\r\n'), true);
  assert.equal(keepAlive('1.1', 'Connection: close\r\nConnection: keep-alive\r\n'), true);
});

test('acceptsGzip', () => {
  const cases: Array<[string, boolean]> = [
    ['gzip', true],
    ['gzip;q=0', false],
    ['gzip; q=0', false],
    ['gzip ; q=0.000', false],
    ['gzip;q=0.001', true],
    ['gzip;q=1', true],
    ['gzip;q=1.0', true],
    ['*', true],
    ['*;q=0', false],
    ['br, gzip', true],
    ['br,gzip', true],
    ['gzip, deflate, br, zstd', true],
    ['deflate, br', false],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['x-gzip', true],
    ['identity', false],
    ['', false],
    ['gzipx', false],
    ['xgzip', false],
  ];
  for (const [value, want] of cases) assert.equal(acceptsGzip(value), want, JSON.stringify(value));
  // Through the parser: the header name and value are case-insensitive.
  const viaHeader = (line: string) => parse(`GET / HTTP/1.1\r\n${line}\r\n\r\n`).head.acceptsGzip;
  assert.equal(viaHeader('Accept-Encoding: gzip, deflate'), true);
  assert.equal(viaHeader('accept-encoding: GZIP'), true);
  assert.equal(viaHeader('ACCEPT-ENCODING: br, GZip;Q=0'), false);
  assert.equal(viaHeader('Accept-Encoding: br'), false);
  assert.equal(viaHeader('Accept-Encoding:\tgzip\t'), true);
});

test('acceptsGzip: an explicit gzip;q=0 is not overridden by * (RFC 9110 §12.5.3)', () => {
  // "*" matches any coding *not explicitly listed*; gzip is listed with q=0, so it is not acceptable.
  assert.equal(acceptsGzip('gzip;q=0, *'), false);
  assert.equal(acceptsGzip('*, gzip;q=0'), false);
});

function withHeader(line: string): string {
  return `GET /announce HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`;
}

test('requests with a body are refused with 400', () => {
  for (const line of [
    'Content-Length: 5',
    'content-length: 1',
    'CONTENT-LENGTH: 10',
    'Content-Length: 01',
    'Content-Length: ',
    'Content-Length: -1',
    'Content-Length: 0, 5',
    'Transfer-Encoding: chunked',
    'transfer-encoding: identity',
    'Transfer-Encoding: ',
  ]) {
    const { result, head } = parse(withHeader(line));
    assert.equal(result, HEAD_ERROR, line);
    assert.equal(head.errorStatus, 400, line);
    assert.match(head.errorReason, /body/, line);
  }
  for (const line of ['Content-Length: 0', 'Content-Length: 000', 'Content-Length:0 ']) {
    assert.equal(parse(withHeader(line)).result, HEAD_OK, line);
  }
});

test('bad request lines and versions are HEAD_ERROR with 400 or 505', () => {
  const cases: Array<[string, number]> = [
    ['GET / HTTP/2.0', 505],
    ['GET / HTTP/1.2', 505],
    ['GET / HTTP/0.9', 505],
    ['GET / http/1.1', 505],
    ['GET / HTTPS/1.1', 505],
    ['GET / HTTP/1.', 505],
    ['GET / ', 505],
    ['GET / HTTP/1.10', 400],
    ['GET / HTTP/1.1 ', 400],
    ['GET / HTTP/1.1x', 400],
    ['GET /', 400],
    ['GET', 400],
    ['GET  / HTTP/1.1', 400],
    [' GET / HTTP/1.1', 400],
    ['GET\t/ HTTP/1.1', 400],
    ['GET x HTTP/1.1', 400],
    ['GET http://host/ HTTP/1.1', 400],
    ['GET /a\x7f HTTP/1.1', 400],
    ['GET /a\xff HTTP/1.1', 400],
    ['G(T / HTTP/1.1', 400],
    ['', 400],
  ];
  for (const [line, status] of cases) {
    for (const eol of ['\r\n', '\n']) {
      const { result, head } = parse(`${line}${eol}Host: x${eol}${eol}`);
      assert.equal(result, HEAD_ERROR, JSON.stringify(line));
      assert.equal(head.errorStatus, status, JSON.stringify(line));
      assert.ok(head.errorReason.length > 0);
    }
  }
});

test('bad header fields are HEAD_ERROR with 400', () => {
  for (const line of [
    'Host x',
    ' Host: x',
    'Host : x',
    ': x',
    'Ho st: x',
    'X: a\x01b',
    'X: a\x7fb\x00',
    'X: a\rb',
    '\tX: y',
  ]) {
    const { result, head } = parse(withHeader(line));
    assert.equal(result, HEAD_ERROR, JSON.stringify(line));
    assert.equal(head.errorStatus, 400, JSON.stringify(line));
  }
  // Tabs and obs-text are allowed inside a value; empty values too.
  for (const line of ['X: a\tb', 'X: caf\xe9', 'X:', 'X: ']) assert.equal(parse(withHeader(line)).result, HEAD_OK);
});

const VALID_REQUESTS = [
  'GET /announce?info_hash=%aa&port=1 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
  'GET /scrape HTTP/1.0\nHost: t\nConnection: keep-alive\n\n',
  'GET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.0\n\n',
  'GET /x HTTP/1.1\r\nA: b\n\r\n',
];

test('every proper prefix of a valid request is HEAD_INCOMPLETE', () => {
  for (const text of VALID_REQUESTS) {
    const full = latin1(text);
    assert.equal(parse(full).result, HEAD_OK, text);
    for (let n = 0; n < full.length; n++) {
      // Both as a short buffer and as a range of the full one (bytes past `end` must not be looked at).
      assert.equal(parse(full.subarray(0, n)).result, HEAD_INCOMPLETE, `${JSON.stringify(text)} cut at ${n}`);
      assert.equal(parse(full, 0, n).result, HEAD_INCOMPLETE, `${JSON.stringify(text)} ended at ${n}`);
    }
  }
});

// Generated valid requests, with the answers a correct parser must give.
const tokenChar = fc.constantFrom(..."!#$%&'*+-.^_`|~09AZaz".split(''), 'G', 'E', 'T');
const targetChar = fc.constantFrom(..."/abcXYZ019%-._~!$&'()*+,;=:@".split(''));
const valueChar = fc.constantFrom(...'abc XYZ 019,;=/\t"'.split(''), '\x80', '\xff');
interface HeaderEffect {
  keepAlive?: boolean;
  gzip?: boolean;
}
const known: Array<[string, string, HeaderEffect]> = [
  ['Connection', 'close', { keepAlive: false }],
  ['connection', 'Keep-Alive', { keepAlive: true }],
  ['Connection', 'Upgrade', {}],
  ['Accept-Encoding', 'gzip, deflate', { gzip: true }],
  ['accept-encoding', 'br', { gzip: false }],
  ['Accept-Encoding', 'gzip;q=0', { gzip: false }],
  ['Accept-Encoding', '*', { gzip: true }],
  ['Content-Length', '0', {}],
];
const header: fc.Arbitrary<{ name: string; value: string; effect: HeaderEffect }> = fc.oneof(
  fc
    .tuple(fc.string({ unit: tokenChar, minLength: 1, maxLength: 10 }), fc.string({ unit: valueChar, maxLength: 20 }))
    .filter(([name]) => !/^(connection|accept-encoding|content-length|transfer-encoding)$/i.test(name))
    .map(([name, value]) => ({ name, value, effect: {} })),
  fc.constantFrom(...known).map(([name, value, effect]) => ({ name, value, effect })),
);
const validRequest = fc
  .record({
    method: fc.oneof(fc.constant('GET'), fc.string({ unit: tokenChar, minLength: 1, maxLength: 7 })),
    path: fc.string({ unit: targetChar, maxLength: 20 }),
    query: fc.option(fc.string({ unit: fc.oneof(targetChar, fc.constant('?')), maxLength: 30 })),
    version: fc.constantFrom('1.0', '1.1'),
    headers: fc.array(header, { maxLength: 6 }),
    eols: fc.array(fc.constantFrom('\r\n', '\n'), { minLength: 8, maxLength: 8 }),
    before: fc.string({ unit: 'binary-ascii', maxLength: 10 }),
    after: fc.string({ unit: 'binary-ascii', maxLength: 10 }),
  })
  .map((r) => {
    const target = `/${r.path}${r.query === null ? '' : `?${r.query}`}`;
    let head = `${r.method} ${target} HTTP/${r.version}${r.eols[0]}`;
    let keepAlive = r.version === '1.1';
    let gzip = false;
    r.headers.forEach((h, k) => {
      head += `${h.name}: ${h.value}${r.eols[k + 1]}`;
      if (h.effect.keepAlive !== undefined) keepAlive = h.effect.keepAlive;
      if (h.effect.gzip !== undefined) gzip = h.effect.gzip;
    });
    head += r.eols[7];
    return { ...r, target, head, keepAlive, gzip };
  });

test('property: generated valid requests parse with the right fields and offsets', () => {
  fc.assert(
    fc.property(validRequest, (r) => {
      const buf = latin1(r.before + r.head + r.after);
      const start = r.before.length;
      const { result, head } = parse(buf, start);
      assert.equal(result, HEAD_OK, JSON.stringify(r.head));
      assert.equal(head.headEnd, start + r.head.length);
      assert.equal(head.isGet, r.method === 'GET');
      assert.equal(head.version, r.version === '1.1' ? 11 : 10);
      assert.equal(head.keepAlive, r.keepAlive);
      assert.equal(head.acceptsGzip, r.gzip);
      assert.equal(head.targetStart, start + r.method.length + 1);
      assert.equal(slice(buf, head.targetStart, head.targetEnd), r.target);
      assert.equal(slice(buf, head.targetStart, head.pathEnd), `/${r.path}`);
      assert.equal(slice(buf, head.queryStart, head.targetEnd), r.query ?? '');
    }),
    { numRuns: 400 },
  );
});

test('property: every proper prefix of a generated valid request is HEAD_INCOMPLETE', () => {
  fc.assert(
    fc.property(validRequest, (r) => {
      const buf = latin1(r.head);
      for (let n = 0; n < buf.length; n++) assert.equal(parse(buf, 0, n).result, HEAD_INCOMPLETE);
    }),
    { numRuns: 100 },
  );
});

/** Checks what any parse result must satisfy, whatever the input. */
function checkInvariants(buf: Uint8Array, start: number, end: number): void {
  const head = createRequestHead();
  const result = parseRequestHead(buf, start, end, head);
  assert.ok(result === HEAD_INCOMPLETE || result === HEAD_OK || result === HEAD_ERROR, `result ${result}`);
  if (result === HEAD_ERROR) {
    assert.ok(head.errorStatus === 400 || head.errorStatus === 505, `status ${head.errorStatus}`);
    assert.ok(head.errorReason.length > 0);
  } else if (result === HEAD_OK) {
    assert.ok(start < head.targetStart && head.targetStart < head.targetEnd, 'target range');
    assert.equal(buf[head.targetStart], 0x2f);
    assert.ok(head.pathEnd <= head.queryStart && head.queryStart <= head.targetEnd, 'query range');
    assert.ok(head.targetEnd < head.headEnd && head.headEnd <= end, 'head range');
    assert.ok(head.version === 10 || head.version === 11);
  }
}

test('property: arbitrary bytes never throw; the result is one of the three constants', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (buf) => checkInvariants(buf, 0, buf.length)),
    { numRuns: 1000 },
  );
  // Bytes from the HTTP alphabet, so heads actually complete.
  const piece = fc.constantFrom(
    'GET',
    ' ',
    '/',
    '?',
    'HTTP/1.1',
    'HTTP/1.0',
    '\r\n',
    '\n',
    '\r',
    ':',
    'a',
    'Connection',
    'close',
    '\t',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
      const buf = latin1(pieces.join(''));
      checkInvariants(buf, 0, buf.length);
    }),
    { numRuns: 1000 },
  );
});

test('property: mutations of valid requests never throw', () => {
  const mutation = fc.record({
    kind: fc.constantFrom('set', 'insert', 'delete'),
    at: fc.nat(),
    byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x0d, 0x0a, 0x20, 0x3a, 0x3f, 0x2f, 0x09)),
  });
  fc.assert(
    fc.property(validRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), (r, mutations) => {
      const bytes = [...latin1(r.head)];
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === 'set') bytes[Math.min(at, bytes.length - 1)] = m.byte;
        else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
        else bytes.splice(at, 1);
      }
      const buf = Uint8Array.from(bytes);
      checkInvariants(buf, 0, buf.length);
    }),
    { numRuns: 1000 },
  );
});

const RESPONSE_HEAD = /^HTTP\/1\.1 (\d{3}) ([A-Za-z ]+)\r\n((?:[A-Za-z-]+: [\x21-\x7e][\x20-\x7e]*\r\n)*)\r\n$/;

function responseHeaders(text: string): Map<string, string> {
  const m = RESPONSE_HEAD.exec(text);
  assert.ok(m, `not a well-formed response head: ${JSON.stringify(text)}`);
  const headers = new Map<string, string>();
  for (const line of m[3].split('\r\n').filter((l) => l.length > 0)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    assert.ok(!headers.has(name), `duplicate ${name}`);
    headers.set(name, line.slice(colon + 2));
  }
  return headers;
}

test('writeResponseHead writes a well-formed head at the offset and returns its end', () => {
  const out = new Uint8Array(300).fill(0xee);
  const end = writeResponseHead(
    out,
    5,
    200,
    'text/plain',
    123,
    true,
    'Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n',
  );
  assert.ok(out.subarray(0, 5).every((b) => b === 0xee));
  assert.ok(out.subarray(end).every((b) => b === 0xee));
  const text = Buffer.from(out.subarray(5, end)).toString('latin1');
  assert.ok(text.startsWith('HTTP/1.1 200 OK\r\n'));
  const headers = responseHeaders(text);
  assert.equal(headers.get('content-length'), '123');
  assert.equal(headers.get('content-type'), 'text/plain');
  assert.equal(headers.get('content-encoding'), 'gzip');
  assert.equal(headers.has('connection'), false);
  const closing = Buffer.from(out.subarray(0, writeResponseHead(out, 0, 400, 'text/plain', 0, false))).toString(
    'latin1',
  );
  assert.ok(closing.startsWith('HTTP/1.1 400 Bad Request\r\n'));
  assert.equal(responseHeaders(closing).get('connection'), 'close');
});

test('property: writeResponseHead output is well-formed with the right Content-Length', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(200, 400, 404, 405, 408, 431, 500, 503, 505, 299, 418),
      fc.constantFrom('text/plain', 'text/plain; charset=utf-8', 'application/octet-stream'),
      fc.nat({ max: 2 ** 31 }),
      fc.boolean(),
      fc.nat(20),
      (status, type, length, keepAlive, off) => {
        const out = new Uint8Array(512);
        const end = writeResponseHead(out, off, status, type, length, keepAlive);
        const text = Buffer.from(out.subarray(off, end)).toString('latin1');
        assert.ok(text.startsWith(`HTTP/1.1 ${status} `));
        const headers = responseHeaders(text);
        assert.equal(headers.get('content-length'), String(length));
        assert.equal(headers.get('content-type'), type);
        assert.equal(headers.get('connection'), keepAlive ? undefined : 'close');
      },
    ),
    { numRuns: 200 },
  );
});

test("Node's own HTTP client accepts the heads writeResponseHead makes", async () => {
  const body = latin1('d8:intervali1800ee');
  const cases: Array<[number, boolean, string]> = [
    [200, true, 'Content-Encoding: identity\r\n'],
    [200, false, ''],
    [400, false, ''],
    [503, true, 'Retry-After: 5\r\n'],
  ];
  let current = 0;
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      const [status, keepAlive, extra] = cases[current];
      const out = new Uint8Array(512);
      const end = writeResponseHead(out, 0, status, 'text/plain', body.length, keepAlive, extra);
      socket.end(Buffer.concat([out.subarray(0, end), body]));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    for (current = 0; current < cases.length; current++) {
      const [status, keepAlive] = cases[current];
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/announce', agent: false }, resolve).on('error', reject);
      });
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      assert.equal(res.statusCode, status);
      assert.equal(res.headers['content-length'], String(body.length));
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.headers.connection, keepAlive ? undefined : 'close');
      assert.deepEqual(Buffer.concat(chunks), body);
    }
  } finally {
    server.close();
  }
});

test('a blank line is looked for only inside the bytes given', () => {
  // "\r\n" right after an earlier request's blank line is not itself a head's end.
  const buf = Buffer.from('GET / HTTP/1.1\r\n\r\n\r\n', 'latin1');
  assert.equal(parseRequestHead(buf, 18, 20, createRequestHead()), HEAD_INCOMPLETE);
  assert.equal(parseRequestHead(buf, 0, 20, createRequestHead()), HEAD_OK);
});
