// The UDP tracker (BEP 15) over real sockets, on IPv4 and IPv6, sharing the swarm store with HTTP.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { announceTarget, compactPeers, get, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

// Both UDP paths: the batched native addon (which must load in CI) and the node:dgram fallback.
for (const [host, io] of [
  ['127.0.0.1', 'native'],
  ['::1', 'native'],
  ['127.0.0.1', 'dgram'],
  ['::1', 'dgram'],
]) {
  const v6 = host.includes(':');
  const size = v6 ? 18 : 6;

  describe(`UDP over ${v6 ? 'IPv6' : 'IPv4'} with ${io} I/O`, () => {
    let s: Swarmd;
    let c: UdpClient;
    before(async () => {
      s = await startSwarmd(['127.0.0.1', '::1'], ['--interval', '1200', '--udp-io', io]);
      assert.match(s.output(), new RegExp(`"io":"${io}"`), 'the UDP listener reports the I/O path asked for');
      c = new UdpClient(host, s.port);
    });
    after(async () => {
      c.close();
      await s.stop();
    });

    test('connect, then announce: counts, interval and peers of the socket family only', async () => {
      const id = await c.connect();
      const hash = randomBytes(20);
      // Peers of both families announce over HTTP first.
      await get({ host: '127.0.0.1', port: s.port }, announceTarget({ hash, port: 9001, left: 0 }));
      await get({ host: '::1', port: s.port }, announceTarget({ hash, port: 9002, left: 0 }));
      const msg = c.announceMessage(id, { hash, port: 9003, event: 2 });
      const reply = await c.request(msg);
      assert.ok(reply);
      assert.equal(reply.readUInt32BE(0), 1);
      assert.equal(reply.readUInt32BE(4), msg.readUInt32BE(12), 'transaction id echoed');
      const interval = reply.readUInt32BE(8);
      assert.ok(interval >= 1080 && interval <= 1320, `interval ${interval}`);
      assert.equal(reply.readUInt32BE(12), 1, 'leechers');
      assert.equal(reply.readUInt32BE(16), 2, 'seeders');
      const peers = compactPeers(reply.subarray(20), size as 6 | 18);
      assert.equal((reply.length - 20) % size, 0);
      assert.deepEqual(peers, [v6 ? '0000:0000:0000:0000:0000:0000:0000:0001:9002' : '127.0.0.1:9001']);
    });

    test('a wrong connection id gets an error packet no larger than the request', async () => {
      const hash = randomBytes(20);
      const announce = c.announceMessage(Buffer.alloc(8, 7), { hash, port: 9100 });
      const reply = await c.request(announce);
      assert.ok(reply);
      assert.equal(reply.readUInt32BE(0), 3);
      assert.ok(reply.length <= announce.length);
      assert.match(reply.subarray(8).toString(), /connection id/);
      const scrape = Buffer.alloc(36);
      scrape.writeUInt32BE(2, 8);
      scrape.writeUInt32BE(77, 12);
      const r2 = await c.request(scrape);
      assert.ok(r2);
      assert.equal(r2.readUInt32BE(0), 3);
      assert.ok(r2.length <= scrape.length);
    });

    test('scrape answers at most 74 hashes, unknown ones as zeros', async () => {
      const id = await c.connect();
      const hash = randomBytes(20);
      await c.request(c.announceMessage(id, { hash, port: 9200, left: 0n, event: 1 }));
      const hashes = [hash, ...Array.from({ length: 79 }, () => randomBytes(20))];
      const msg = Buffer.concat([id, Buffer.from([0, 0, 0, 2, 0, 0, 0, 9]), ...hashes]);
      const reply = await c.request(msg);
      assert.ok(reply);
      assert.equal(reply.readUInt32BE(0), 2);
      assert.equal(reply.length, 8 + 74 * 12);
      assert.deepEqual([reply.readUInt32BE(8), reply.readUInt32BE(12), reply.readUInt32BE(16)], [1, 1, 0]);
      assert.deepEqual([reply.readUInt32BE(20), reply.readUInt32BE(24), reply.readUInt32BE(28)], [0, 0, 0]);
    });

    test('BEP 41 options after an announce are accepted', async () => {
      const id = await c.connect();
      const url = Buffer.from('/announce?passkey=abc');
      const options = Buffer.concat([Buffer.from([1, 2, url.length]), url, Buffer.from([0])]);
      const msg = Buffer.concat([c.announceMessage(id, { hash: randomBytes(20), port: 9300 }), options]);
      const reply = await c.request(msg);
      assert.ok(reply);
      assert.equal(reply.readUInt32BE(0), 1);
    });

    test('stopped removes the peer; numwant caps the list', async () => {
      const id = await c.connect();
      const hash = randomBytes(20);
      for (let p = 9400; p < 9410; p++) await c.request(c.announceMessage(id, { hash, port: p }));
      const three = await c.request(c.announceMessage(id, { hash, port: 9400, numwant: 3 }));
      assert.equal(three?.length, 20 + 3 * size);
      const stopped = await c.request(c.announceMessage(id, { hash, port: 9401, event: 3 }));
      assert.equal(stopped?.readUInt32BE(12), 9, 'leechers after the stop');
    });

    test('datagrams that are too short, or connects without the magic, get no reply', async () => {
      assert.equal(await c.request(Buffer.alloc(8), 300), null);
      const noMagic = Buffer.alloc(16);
      noMagic.writeUInt32BE(5, 12);
      assert.equal(await c.request(noMagic, 300), null);
    });
  });
}

test('a connection id is bound to the address it was given to', async () => {
  const s = await startSwarmd(['127.0.0.1', '::1']);
  const v4 = new UdpClient('127.0.0.1', s.port);
  const v6 = new UdpClient('::1', s.port);
  try {
    const id = await v4.connect();
    const reply = await v6.request(v6.announceMessage(id, { hash: randomBytes(20), port: 9500 }));
    assert.equal(reply?.readUInt32BE(0), 3);
  } finally {
    v4.close();
    v6.close();
    await s.stop();
  }
});
