// A peer that re-announces before `min interval` gets, from its third such announce, the reply kept from the last
// one, and the swarm is not touched; events still take effect; a client that waits is never served from the cache.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decode } from '../../src/protocol/bencode.ts';
import { announceTarget, get, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

const HASH = Buffer.alloc(20, 0x3c);
let s: Swarmd;
before(async () => {
  // Loopback, where the test sends from, is exempt from the repeat cache by default.
  s = await startSwarmd(['127.0.0.1'], ['--min-interval', '60', '--rate-limit-exempt', 'none']);
});
after(() => s.stop());

function dict(body: Buffer): Record<string, unknown> {
  return decode(body) as Record<string, unknown>;
}

async function cachedCount(): Promise<number> {
  const m = /^swarmd_repeat_announces_cached_total (\d+)/m.exec((await get(s, '/metrics')).body.toString());
  return Number(m?.[1]);
}

test('HTTP: the kept reply is sent again (the counts of when it was kept); completed still counts', async () => {
  const a = { hash: HASH, port: 8001 };
  await get(s, announceTarget(a));
  await get(s, announceTarget(a)); // an early re-announce: its reply is kept
  await get(s, announceTarget({ hash: HASH, port: 8002 })); // another peer joins
  const before = await cachedCount();
  const repeat = dict((await get(s, announceTarget({ ...a, event: 'started' }))).body);
  assert.equal(repeat.incomplete, 1, 'the kept reply, from before the second peer joined');
  assert.equal(await cachedCount(), before + 1);
  // An event is never answered from the cache.
  const done = dict((await get(s, announceTarget({ ...a, left: 0, event: 'completed' }))).body);
  assert.deepEqual([done.complete, done.incomplete, done.downloaded], [1, 1, 1]);
});

test('UDP: the kept reply carries the new transaction id', async () => {
  const udp = new UdpClient('127.0.0.1', s.port);
  try {
    const id = await udp.connect();
    const hash = Buffer.alloc(20, 0x4d);
    const p = { hash, port: 8101 };
    for (let i = 0; i < 2; i++) await udp.request(udp.announceMessage(id, p));
    await udp.request(udp.announceMessage(id, { hash, port: 8102 }));
    const before = await cachedCount();
    const msg = udp.announceMessage(id, p);
    const reply = await udp.request(msg);
    assert.ok(reply !== null);
    assert.equal(reply.readUInt32BE(0), 1);
    assert.equal(reply.readUInt32BE(4), msg.readUInt32BE(12), 'its own transaction id');
    assert.equal(reply.readUInt32BE(12), 1, 'leechers when the reply was kept');
    assert.equal(await cachedCount(), before + 1);
  } finally {
    udp.close();
  }
});
