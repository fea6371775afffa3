// A running tracker under a large batch of random and mutated requests, over UDP and HTTP: it must stay up, answer
// only with protocol-level errors, keep the swarms it had, and still serve a valid announce afterwards.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { decode } from '../../src/protocol/bencode.ts';
import { announceTarget, get, pct, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

const UDP_DATAGRAMS = 20_000;
const HTTP_REQUESTS = 1500;

/** Flips, inserts, deletes and truncates bytes of a valid message. */
function mutate(valid: Buffer, rng: () => number): Buffer {
  const bytes = [...valid];
  const edits = 1 + Math.floor(rng() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rng() * (bytes.length + 1));
    const kind = Math.floor(rng() * 4);
    if (kind === 0 && at < bytes.length) bytes[at] = Math.floor(rng() * 256);
    else if (kind === 1) bytes.splice(at, 0, Math.floor(rng() * 256));
    else if (kind === 2) bytes.splice(at, 1);
    else bytes.length = Math.min(bytes.length, at);
  }
  return Buffer.from(bytes);
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

async function scrapeCounts(s: Swarmd, hash: Buffer) {
  const d = decode((await get(s, `/scrape?info_hash=${pct(hash)}`)).body) as Record<string, unknown>;
  const files = d.files as Record<string, Record<string, number>>;
  return { ...files[hash.toString('latin1')] };
}

function sendRaw(host: string, port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(1000, done);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => {});
    socket.on('connect', () => socket.end(bytes));
  });
}

for (const [host, udpIo, httpIo] of [
  ['127.0.0.1', 'native', 'native'],
  ['::1', 'native', 'native'],
  ['127.0.0.1', 'dgram', 'net'],
]) {
  const family = host.includes(':') ? 'IPv6' : 'IPv4';
  test(`random and mutated requests over ${family} (${udpIo} UDP, ${httpIo} HTTP) leave the tracker serving`, async () => {
    const s = await startSwarmd([host], ['--full-scrape', '--udp-io', udpIo, '--http-io', httpIo]);
    const udp = new UdpClient(host, s.port);
    try {
      const rng = seeded(0x5eed + host.length);
      const hash = randomBytes(20);
      await get(s, announceTarget({ hash, port: 6001, left: 0 }));
      await get(s, announceTarget({ hash, port: 6002 }));
      const before = await scrapeCounts(s, hash);

      // UDP: random datagrams and mutations of valid connect/announce/scrape messages, as fast as they go.
      const id = await udp.connect();
      const valid = [
        Buffer.concat([Buffer.from('0000041727101980', 'hex'), Buffer.from([0, 0, 0, 0, 1, 2, 3, 4])]),
        udp.announceMessage(id, { hash: randomBytes(20), port: 6100 }),
        Buffer.concat([id, Buffer.from([0, 0, 0, 2, 0, 0, 0, 1]), randomBytes(40)]),
      ];
      const randomDatagram = fc.uint8Array({ maxLength: 1500 });
      let replies = 0;
      udp.socket.on('message', () => replies++);
      for (let i = 0; i < UDP_DATAGRAMS; i++) {
        const msg =
          i % 3 === 0
            ? Buffer.from(fc.sample(randomDatagram, { numRuns: 1, seed: i })[0])
            : mutate(valid[i % valid.length], rng);
        udp.socket.send(msg, s.port, host);
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }

      // HTTP: mutated announces and scrapes, random bytes and truncated heads, each on its own connection.
      const requests = [
        `GET ${announceTarget({ hash: randomBytes(20), port: 6200 })} HTTP/1.1\r\nHost: t\r\n\r\n`,
        `GET /scrape?info_hash=${pct(randomBytes(20))}&info_hash=${pct(hash)} HTTP/1.1\r\nHost: t\r\n\r\n`,
        'GET /scrape HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n',
      ].map((r) => Buffer.from(r));
      const batch: Promise<void>[] = [];
      for (let i = 0; i < HTTP_REQUESTS; i++) {
        const bytes = i % 5 === 0 ? randomBytes(Math.floor(rng() * 2000)) : mutate(requests[i % requests.length], rng);
        batch.push(sendRaw(host, s.port, bytes));
        if (batch.length >= 50) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);

      assert.equal(s.proc.exitCode, null, `the tracker died:\n${s.output()}`);
      assert.ok(replies > 0, 'some datagrams were answered');
      // Mutations may legitimately announce new peers to other torrents, but never touch this one's figures.
      assert.deepEqual(await scrapeCounts(s, hash), before);
      const after = decode((await get(s, announceTarget({ hash, port: 6003 }))).body) as Record<string, unknown>;
      assert.equal(after.complete, 1);
      assert.equal(after.incomplete, 2);
      const fresh = await udp.connect();
      const reply = await udp.request(udp.announceMessage(fresh, { hash, port: 6004 }));
      assert.equal(reply?.readUInt32BE(0), 1);
    } finally {
      udp.close();
      await s.stop();
    }
  });
}

for (const io of ['native', 'net']) {
  test(`a client that pipelines requests and never reads (${io} HTTP) neither makes the tracker spin nor fills its memory`, async () => {
    const s = await startSwarmd(['127.0.0.1'], ['--http-io', io]);
    const stat = () => {
      const fields = readFileSync(`/proc/${s.proc.pid}/stat`, 'latin1').split(') ')[1].split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
    };
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.proc.pid}/status`, 'latin1'))?.[1]);
    const flood = net.connect(s.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => flood.once('connect', () => resolve()));
      flood.pause(); // never read a reply
      flood.on('error', () => {});
      const before = stat();
      const rssBefore = rssKb();
      // 300,000 scrapes of 5 hashes: about 115 MB of replies, far more than the kernel buffers between the two sockets
      // hold; a tracker that kept reading would spin answering them and keep them all in memory.
      const hashes = Array.from({ length: 5 }, () => `info_hash=${pct(randomBytes(20))}`).join('&');
      flood.write(`GET /scrape?${hashes} HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(300_000));
      // Others are served meanwhile.
      for (let i = 0; i < 20; i++) {
        assert.equal((await get(s, announceTarget({ hash: randomBytes(20), port: 6100 + i }))).status, 200);
        await new Promise((r) => setTimeout(r, 100));
      }
      const used = stat() - before;
      // Two seconds of a spinning loop would be about 200 ticks; answering what fits in the buffers takes a few.
      assert.ok(used < 100, `${used} CPU ticks in 2 s`);
      const grew = rssKb() - rssBefore;
      // What it read before it stopped, and the garbage of answering it (about 30 MB on the net path).
      assert.ok(grew < 64 * 1024, `RSS grew by ${grew} kB`);
    } finally {
      flood.destroy();
      await s.stop();
    }
  });
}
