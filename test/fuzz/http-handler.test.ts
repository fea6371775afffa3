// Fuzz target: HttpHandler.answer, bytes in and a whole response out, as both HTTP servers use it, on a real tracker
// with swarms in it. Requests are valid announces, scrapes, stats and metrics requests (pipelined, with proxy headers),
// mutated, and arbitrary bytes. Each answer must be a well-formed HTTP/1.1 response whose Content-Length is its body's
// length, whose Connection header agrees with what the server does next, and whose bencoded body the query tool
// reads; and nothing but an announce the tracker accepted may change the swarm.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readAnnounceReply, readScrapeReply } from '../../src/cli/query/replies.ts';
import { type Answer, createAnswer, type HttpClient, type HttpHandler } from '../../src/net/http-handler.ts';
import { type BValue, decode } from '../../src/protocol/bencode.ts';
import { createRequestHead, HEAD_OK, parseRequestHead } from '../../src/protocol/http-request.ts';
import { connectionBytes } from './http-requests.ts';
import { latin1, percentEncode } from './mutate.ts';
import { fuzzParameters } from './runs.ts';
import { CLIENTS, createFixture, type Fixture, onlyAnnouncedChanged, renewing, swarmFingerprint } from './tracker.ts';

const RESPONSE = /^HTTP\/1\.1 ([1-5]\d\d) [A-Za-z ]+\r\n((?:[A-Za-z-]+: [\x21-\x7e][\x20-\x7e]*\r\n)*)\r\n/;

interface Response {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Splits a response, checking its form; header names lower-cased, none repeated. */
function parseResponse(response: Buffer): Response {
  const text = response.toString('latin1');
  const m = RESPONSE.exec(text);
  assert.ok(m, `not a well-formed response head: ${JSON.stringify(text.slice(0, 300))}`);
  const headers = new Map<string, string>();
  for (const line of m[2].split('\r\n').slice(0, -1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    assert.ok(!headers.has(name), `${name} twice in ${JSON.stringify(m[0])}`);
    headers.set(name, line.slice(colon + 2));
  }
  const body = response.subarray(m[0].length);
  assert.equal(headers.get('content-length'), String(body.length), 'Content-Length is not the body length');
  assert.ok(headers.has('content-type'));
  return { status: Number(m[1]), headers, body };
}

/** What the request at `offset` is, as the parser sees it (the answer itself does not say). */
function requestAt(data: Buffer, offset: number) {
  const head = createRequestHead();
  if (parseRequestHead(data, offset, data.length, head) !== HEAD_OK) return null;
  return { ...head, path: data.toString('latin1', head.targetStart, head.pathEnd) };
}

/** The bencoded body of a 200 to /announce or /scrape must be canonical bencode that the query tool reads. */
function checkTrackerBody(path: string, body: Buffer): BValue {
  const value = decode(body);
  (path === '/announce' ? readAnnounceReply : readScrapeReply)(value);
  return value;
}

/** Whether a reply is a successful announce (an interval and no failure reason). */
function announceAccepted(path: string | undefined, status: number, value: BValue | null): boolean {
  if (path !== '/announce' || status !== 200 || value === null || typeof value !== 'object') return false;
  return !Array.isArray(value) && !(value instanceof Uint8Array) && 'interval' in value && !('failure reason' in value);
}

/** Answers every request on a connection as a server does, checking each response and what it did to the swarm. */
async function serveConnection(f: Fixture, handler: HttpHandler, data: Buffer, client: HttpClient, maxHead: number) {
  const out: Answer = createAnswer();
  for (let offset = 0; ; ) {
    const before = swarmFingerprint(f.store);
    const peersBefore = f.store.peers;
    f.announced.length = 0;
    const req = requestAt(data, offset);
    handler.answer(data, offset, data.length, client, maxHead, out);
    if (out.response === null) {
      assert.ok(req === null && data.length - offset < maxHead, 'no response, yet the head is complete or too large');
      assert.deepEqual(swarmFingerprint(f.store), before);
      return;
    }
    assert.equal(out.error, null, `a bug surfaced as a 500: ${out.error}`);
    assert.ok(out.next > offset && out.next <= data.length, `next ${out.next} from ${offset} of ${data.length}`);
    // Copied at once: announce and scrape responses live in a buffer the next answer reuses.
    const response = parseResponse(Buffer.from(await out.response));
    const close = response.headers.get('connection') === 'close';
    assert.equal(close, out.close, `Connection header says close=${close}, the server closes=${out.close}`);
    if (!out.close && req?.version === 10) assert.equal(response.headers.get('connection'), 'keep-alive');
    if (req?.isHead && !out.close) assert.equal(response.body.length, 0, 'a body in a response to HEAD');
    const bencoded =
      response.status === 200 &&
      !response.headers.has('content-encoding') &&
      /^\/(announce|scrape)$/.test(req?.path ?? '');
    const value = bencoded ? checkTrackerBody(req?.path ?? '', response.body) : null;
    const after = swarmFingerprint(f.store);
    if (announceAccepted(req?.path, response.status, value)) {
      const changed = onlyAnnouncedChanged(before, after, f.announced, f.store.peers - peersBefore);
      assert.equal(changed, null);
    } else {
      assert.deepEqual(
        after,
        before,
        `${response.status} to ${JSON.stringify(data.toString('latin1', offset, out.next))}`,
      );
    }
    if (out.close) return;
    offset = out.next;
  }
}

const fixtures = [
  renewing(() => createFixture()),
  renewing(() => createFixture({ ipFromQuery: true })),
  renewing(() => createFixture({ rateLimited: true })),
];

test('HttpHandler.answer: well-formed responses, and only accepted announces change the swarm', async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      connectionBytes,
      fc.constantFrom(...CLIENTS),
      fc.constantFrom(0, 0, 1, 1, 2),
      fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1024, 8192) }, fc.integer({ min: 16, max: 8192 })),
      async (data, client, which, redirect, maxHead) => {
        const f = fixtures[which]();
        const peers = f.store.peers;
        await serveConnection(f, redirect ? f.redirecting : f.http, data, client, maxHead);
        if (f.store.peers !== peers) accepted++;
      },
    ),
    fuzzParameters(1000, 3),
  );
  // The generators must reach the tracker, not only its refusals.
  assert.ok(accepted > 0, 'no request changed the swarm: the generators only make junk');
});

// Found by the UDP target (see the last test of udp.test.ts): HTTP announces share Tracker.cachedReply, so a peer
// that re-announced early, stopped and started again within `min interval` stayed out of the swarm here too.
test('HTTP: a peer that stops and starts again within min interval is back in the swarm', () => {
  const f = createFixture();
  const client = CLIENTS[1];
  const hash = Buffer.alloc(20, 0x5e);
  for (const event of ['started', 'started', 'stopped', 'started']) {
    const query = `info_hash=${percentEncode(hash)}&peer_id=${'-'.repeat(20)}&port=6881&left=1000&event=${event}`;
    const request = latin1(`GET /announce?${query} HTTP/1.1\r\n\r\n`);
    f.http.answer(request, 0, request.length, client, 8192, createAnswer());
  }
  const tid = f.store.find(hash, 0);
  const endpoint = Buffer.concat([client.addr, Buffer.of(0x1a, 0xe1)]); // port 6881
  assert.ok(tid >= 0 && f.store.pools[client.family].find(tid, endpoint, 0) >= 0, 'the peer that started is missing');
});
