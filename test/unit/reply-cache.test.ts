// The reply cache: a kept reply is found by its exact key within maxAge, not after; sets are bounded and the oldest
// entry makes room.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyCache } from '../../src/tracker/reply-cache.ts';

const hash = (n: number) => new Uint8Array(20).fill(n);
const endpoint = (n: number) => Uint8Array.of(10, 0, 0, n, 0x1a, 0xe1);

function keep(cache: ReplyCache, n: number, variant: number, now: number, reply: number[]): void {
  cache.setKey(hash(n), 0, endpoint(n), 6, variant);
  cache.keep(now, 60, Uint8Array.from(reply), 0, reply.length);
}

function find(cache: ReplyCache, n: number, variant: number, now: number): number[] | null {
  cache.setKey(hash(n), 0, endpoint(n), 6, variant);
  const e = cache.find(now, 60);
  return e < 0 ? null : [...cache.reply(e)];
}

test('found by its exact key within maxAge; another variant, endpoint or torrent is another key', () => {
  const cache = new ReplyCache(16, 8);
  assert.equal(cache.size, 0);
  keep(cache, 1, 0, 100, [1, 2, 3]);
  assert.equal(cache.size, 1);
  assert.deepEqual(find(cache, 1, 0, 159), [1, 2, 3]);
  assert.equal(find(cache, 1, 0, 160), null, 'kept 60 s ago: stale');
  assert.equal(find(cache, 1, 1, 100), null);
  cache.setKey(hash(1), 0, endpoint(2), 6, 0);
  assert.equal(cache.find(100, 60), -1);
  cache.setKey(hash(2), 0, endpoint(1), 6, 0);
  assert.equal(cache.find(100, 60), -1);
  keep(cache, 1, 0, 120, [9]);
  assert.deepEqual(find(cache, 1, 0, 121), [9], 'the same key is replaced in place');
});

test('a reply longer than a slot is not kept', () => {
  const cache = new ReplyCache(16, 4);
  keep(cache, 1, 0, 100, [1, 2, 3, 4, 5]);
  assert.equal(find(cache, 1, 0, 100), null);
});

test('bounded: many more keys than entries keep at most `entries` replies, the newest', () => {
  const cache = new ReplyCache(8, 4);
  for (let n = 0; n < 200; n++) keep(cache, n, 0, 100 + Math.floor(n / 50), [n]);
  let found = 0;
  for (let n = 0; n < 200; n++) if (find(cache, n, 0, 103) !== null) found++;
  assert.ok(found <= 8, `${found} found`);
  assert.ok(found >= 1);
});
