// HttpHandler builds announce and scrape replies in place when the caller gives it an output buffer (the native
// server's reply slot): the body goes after room for a three-digit Content-Length and moves when its length has more
// or fewer digits. Whatever the body's length, the head's form and the offset, the bytes must be those of a reply
// built in the handler's own buffer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpOptionsOf } from '../../src/cli/serve.ts';
import { defaultConfig } from '../../src/config/config.ts';
import { createAnswer, type HttpClient, HttpHandler } from '../../src/net/http-handler.ts';
import { createAnnounceRequest } from '../../src/protocol/announce.ts';
import { decode } from '../../src/protocol/bencode.ts';
import { Counters } from '../../src/stats/counters.ts';
import { FAMILY_V4, SwarmStore } from '../../src/swarm/store.ts';
import { Clock } from '../../src/tracker/clock.ts';
import { FullScrape } from '../../src/tracker/full-scrape.ts';
import { PEERS_BOTH_FAMILIES, Tracker } from '../../src/tracker/tracker.ts';

const HASHES = Array.from({ length: 64 }, (_, k) => Buffer.alloc(20, k + 1));
const CLIENT: HttpClient = { family: FAMILY_V4, addr: Uint8Array.of(192, 0, 2, 1) };
const pct = (b: Uint8Array) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');

function handler(): HttpHandler {
  const store = new SwarmStore({ peerTtl: 3600 });
  const tracker = new Tracker(
    store,
    new Clock(),
    { interval: 1800, minInterval: 900, maxPeers: 200, defaultNumwant: 50, trackerId: '' },
    new Counters(),
  );
  const req = createAnnounceRequest();
  for (const [k, hash] of HASHES.entries()) {
    hash.copy(req.infoHash);
    req.port = 6881;
    req.left = k % 2;
    tracker.announce(req, FAMILY_V4, Uint8Array.of(10, 0, 0, k), PEERS_BOTH_FAMILIES, 50);
  }
  // 64 hashes per scrape, so that a reply can reach 4 digits' length.
  const options = { ...httpOptionsOf(defaultConfig()), maxScrapeHashes: 64 };
  return new HttpHandler(tracker, new FullScrape(store, 900), options, null);
}

/** Requests whose replies have bodies of 2, 3 and 4 digits' length, and a refusal, each with every head form. */
function requests(): Buffer[] {
  const targets = [
    ...[1, 2, 12, 64].map(
      (n) =>
        `/scrape?${HASHES.slice(0, n)
          .map((h) => `info_hash=${pct(h)}`)
          .join('&')}`,
    ),
    '/announce?peer_id=x', // missing info_hash: a failure reason
    '/scrape?info_hash=short',
  ];
  const heads = [
    'HTTP/1.1\r\n\r\n',
    'HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    'HTTP/1.1\r\nConnection: close\r\n\r\n',
  ];
  return targets.flatMap((t) => heads.map((h) => Buffer.from(`GET ${t} ${h}`, 'latin1')));
}

test('replies built in place equal replies built in the handler buffer, at any offset and body length', () => {
  const h = handler();
  const a = createAnswer();
  const lengths = new Set<number>();
  for (const request of requests()) {
    const own = h.answer(request, 0, request.length, CLIENT, 8192, a).response;
    assert.ok(own instanceof Uint8Array && a.inPlaceEnd === -1);
    const expected = Buffer.from(own);
    const body = expected.subarray(expected.indexOf('\r\n\r\n') + 4);
    const length = Number(/Content-Length: (\d+)/.exec(expected.toString('latin1'))?.[1]);
    assert.equal(length, body.length);
    decode(body);
    lengths.add(String(length).length);
    for (const at of [0, 777]) {
      const output = new Uint8Array(at + h.maxResponseSize + 64).fill(0xee);
      const response = h.answer(request, 0, request.length, CLIENT, 8192, a, output, at).response;
      assert.equal(response, output);
      assert.deepEqual(Buffer.from(output.subarray(at, a.inPlaceEnd)), expected, request.toString('latin1'));
      assert.ok(
        output.subarray(0, at).every((b) => b === 0xee),
        'nothing written before the offset',
      );
    }
  }
  assert.deepEqual([...lengths].sort(), [2, 3, 4], 'bodies of 2, 3 and 4 digits were all tried');
});
