// Fuzz target: parseRequestHead on whole connections — several requests back to back, mutated (bytes flipped, CR/LF
// and NUL injected, fields grown past any bound, lines duplicated or cut), and arbitrary bytes. Beyond what
// test/unit/http-request.test.ts checks of one head, this walks a connection as the servers do, from one headEnd to
// the next, and checks every OK head: offsets in order and inside its bytes, a target of visible ASCII only (the
// HTTPS redirect echoes it into a Location header), proxy header values without line ends; that bytes outside
// [start, end) make no difference; and that a head rebuilt from what was parsed parses the same.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  createRequestHead,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  HEAD_OK,
  MAX_PROXY_HEADERS,
  PROXY_FORWARDED,
  PROXY_X_FORWARDED_FOR,
  PROXY_X_REAL_IP,
  parseRequestHead,
  type RequestHead,
} from '../../src/protocol/http-request.ts';
import { connectionBytes } from './http-requests.ts';
import { latin1 } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

const PROXY_HEADER_NAMES: Record<number, string> = {
  [PROXY_X_FORWARDED_FOR]: 'X-Forwarded-For',
  [PROXY_X_REAL_IP]: 'X-Real-IP',
  [PROXY_FORWARDED]: 'Forwarded',
};

function parse(buf: Uint8Array, start: number, end: number): { result: number; head: RequestHead } {
  const head = createRequestHead();
  return { result: parseRequestHead(buf, start, end, head), head };
}

/** The parts of an OK head that do not depend on where it lies, as text. */
function meaning(buf: Uint8Array, start: number, head: RequestHead) {
  const text = (from: number, to: number) => Buffer.from(buf.subarray(from, to)).toString('latin1');
  const proxies: string[] = [];
  for (let k = 0; k < head.proxyHeaderCount; k++) {
    const [kind, from, to] = head.proxyHeaders.subarray(k * 3, k * 3 + 3);
    proxies.push(`${PROXY_HEADER_NAMES[kind]}: ${text(from, to)}`);
  }
  return {
    method: text(start, head.targetStart - 1),
    path: text(head.targetStart, head.pathEnd),
    query: text(head.queryStart, head.targetEnd),
    target: text(head.targetStart, head.targetEnd),
    isGet: head.isGet,
    isHead: head.isHead,
    version: head.version,
    keepAlive: head.keepAlive,
    acceptsGzip: head.acceptsGzip,
    length: head.headEnd - start,
    proxies,
  };
}

/** Checks one OK head of `buf[start, end)`. */
function checkOk(buf: Uint8Array, start: number, end: number, head: RequestHead): void {
  const { targetStart, pathEnd, queryStart, targetEnd, headEnd } = head;
  assert.ok(start < targetStart && targetStart <= pathEnd && pathEnd <= queryStart, 'target offsets out of order');
  assert.ok(queryStart <= targetEnd && targetEnd < headEnd && headEnd <= end, 'offsets past the head');
  assert.ok(queryStart === targetEnd || queryStart === pathEnd + 1, 'the query does not follow the path');
  assert.equal(buf[targetStart], 0x2f);
  for (let i = targetStart; i < targetEnd; i++) assert.ok(buf[i] > 0x20 && buf[i] < 0x7f, `byte ${buf[i]} in target`);
  for (let i = targetStart; i < pathEnd; i++) assert.notEqual(buf[i], 0x3f, "'?' in the path");
  assert.ok(head.version === 10 || head.version === 11);
  assert.ok(!(head.isGet && head.isHead));
  assert.ok(head.proxyHeaderCount >= 0 && head.proxyHeaderCount <= MAX_PROXY_HEADERS);
  for (let k = 0; k < head.proxyHeaderCount; k++) {
    const [kind, from, to] = head.proxyHeaders.subarray(k * 3, k * 3 + 3);
    assert.ok(kind in PROXY_HEADER_NAMES, `proxy header kind ${kind}`);
    assert.ok(targetEnd < from && from <= to && to < headEnd, 'proxy header value outside the head');
    for (let i = from; i < to; i++) assert.ok(buf[i] >= 0x20 || buf[i] === 0x09, `byte ${buf[i]} in a header value`);
  }
}

/** Rebuilds a head from what was parsed: it must parse to the same meaning. */
function rebuilt(m: ReturnType<typeof meaning>): Buffer {
  const lines = [`${m.method} ${m.target} HTTP/1.${m.version === 11 ? 1 : 0}`];
  if (m.keepAlive !== (m.version === 11)) lines.push(`Connection: ${m.keepAlive ? 'keep-alive' : 'close'}`);
  if (m.acceptsGzip) lines.push('Accept-Encoding: gzip');
  lines.push(...m.proxies);
  return latin1(`${lines.join('\r\n')}\r\n\r\n`);
}

/** Parses a connection's requests one after the other, as the servers do; returns the results in order. */
function walk(buf: Uint8Array, start: number, end: number): ReturnType<typeof meaning>[] {
  const seen: ReturnType<typeof meaning>[] = [];
  for (let offset = start; ; ) {
    const { result, head } = parse(buf, offset, end);
    if (result === HEAD_INCOMPLETE) return seen;
    if (result === HEAD_ERROR) {
      assert.ok([400, 505].includes(head.errorStatus) && head.errorReason.length > 0, `error ${head.errorStatus}`);
      assert.ok(head.headEnd > offset && head.headEnd <= end);
      return seen;
    }
    assert.equal(result, HEAD_OK);
    checkOk(buf, offset, end, head);
    const m = meaning(buf, offset, head);
    seen.push(m);
    const again = rebuilt(m);
    const r = parse(again, 0, again.length);
    assert.equal(r.result, HEAD_OK, JSON.stringify(again.toString('latin1')));
    assert.deepEqual({ ...meaning(again, 0, r.head), length: m.length }, m);
    offset = head.headEnd;
  }
}

test('parseRequestHead over a connection: every OK head consistent, rebuilt heads parse the same', () => {
  fc.assert(
    fc.property(connectionBytes, (data) => {
      walk(data, 0, data.length);
    }),
    fuzzParameters(1500),
  );
});

test('parseRequestHead reads only [start, end): the bytes around a connection change nothing', () => {
  fc.assert(
    fc.property(connectionBytes, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (data, a, b) => {
      const framed = Buffer.concat([a, data, b]);
      assert.deepEqual(walk(framed, a.length, a.length + data.length), walk(data, 0, data.length));
    }),
    fuzzParameters(1000),
  );
});
