// Caps over real sockets: --max-torrents, --max-peers-per-torrent, --max-memory and --max-connections refuse what
// is new, keep what is there working, and say so in /metrics and the log.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decode } from '../../src/protocol/bencode.ts';
import { announceTarget, get, pct, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

const hash = (n: number) => Buffer.alloc(20, n);

function dict(body: Buffer): Record<string, unknown> {
  return decode(body) as Record<string, unknown>;
}

function text(value: unknown): string {
  return Buffer.from(value as Uint8Array).toString();
}

async function metric(s: Swarmd, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec((await get(s, '/metrics')).body.toString());
  return m === null ? Number.NaN : Number(m[1]);
}

async function waitForLog(s: Swarmd, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 60 && !pattern.test(s.output()); i++) await sleep(50);
  assert.match(s.output(), pattern);
}

test('--max-torrents: a new torrent past the cap is refused over HTTP and UDP; the others keep working', async () => {
  const s = await startSwarmd(['127.0.0.1'], ['--max-torrents', '3']);
  const udp = new UdpClient('127.0.0.1', s.port);
  try {
    for (let n = 1; n <= 3; n++)
      assert.ok('interval' in dict((await get(s, announceTarget({ hash: hash(n), port: 6000 + n }))).body));
    const refused = dict((await get(s, announceTarget({ hash: hash(4), port: 6004 }))).body);
    assert.equal(text(refused['failure reason']), 'this tracker is full: it takes no new torrents now');
    const reply = await udp.request(udp.announceMessage(await udp.connect(), { hash: hash(5), port: 6005 }));
    assert.ok(reply !== null);
    assert.equal(reply.readUInt32BE(0), 3);
    assert.match(reply.subarray(8).toString(), /^this tracker is full/);
    // A known torrent takes new peers.
    const known = dict((await get(s, announceTarget({ hash: hash(1), port: 6100 }))).body);
    assert.equal(known.incomplete, 2);
    assert.equal(await metric(s, 'swarmd_cap_refusals_total'), 2);
    await waitForLog(s, /a cap was reached/);
  } finally {
    udp.close();
    await s.stop();
  }
});

test('--max-peers-per-torrent: a new peer past the cap gets peers but is not stored; known peers re-announce', async () => {
  const s = await startSwarmd(['127.0.0.1'], ['--max-peers-per-torrent', '2']);
  try {
    const h = hash(9);
    await get(s, announceTarget({ hash: h, port: 7001 }));
    await get(s, announceTarget({ hash: h, port: 7002 }));
    const third = dict((await get(s, announceTarget({ hash: h, port: 7003 }))).body);
    assert.equal((third.peers as Uint8Array).length, 12, 'the two stored peers');
    assert.equal(third.incomplete, 2);
    const again = dict((await get(s, announceTarget({ hash: h, port: 7001, left: 0 }))).body);
    assert.equal(again.complete, 1);
    const files = dict((await get(s, `/scrape?info_hash=${pct(h)}`)).body).files as Record<string, unknown>;
    assert.deepEqual(
      { ...(Object.values(files)[0] as object) },
      { complete: 1, downloaded: 0, downloaders: 1, incomplete: 1 },
    );
    assert.equal(await metric(s, 'swarmd_cap_refusals_total'), 1);
  } finally {
    await s.stop();
  }
});

test('--max-memory below what the process holds: new torrents are refused from the start, and the log says why', async () => {
  const s = await startSwarmd(['127.0.0.1'], ['--max-memory', '32']);
  try {
    await waitForLog(s, /memory near the budget/);
    const refused = dict((await get(s, announceTarget({ hash: hash(1), port: 6001 }))).body);
    assert.match(text(refused['failure reason']), /tracker is full/);
  } finally {
    await s.stop();
  }
});

/** A connection that has sent part of a head, so that it is accepted and held open. */
function halfOpen(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write('GET /announce');
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** Resolves true when the server closes `socket` before answering. */
function closedWithoutAnswer(socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    socket.on('data', () => {
      answered = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(!answered));
  });
}

describe('--max-connections', () => {
  for (const io of ['native', 'net']) {
    test(`${io} I/O: past the cap a connection is closed at once; one freed lets the next in`, async () => {
      const s = await startSwarmd(['127.0.0.1'], ['--max-connections', '4', '--http-io', io]);
      try {
        const held = await Promise.all([1, 2, 3, 4].map(() => halfOpen(s.port)));
        await sleep(200);
        const extra = await halfOpen(s.port);
        extra.write(' HTTP/1.1\r\nHost: t\r\n\r\n');
        assert.equal(await closedWithoutAnswer(extra), true);
        held[0].destroy();
        await sleep(200);
        assert.equal((await get(s, '/nothing')).status, 404);
        for (const socket of held) socket.destroy();
        await sleep(1100);
        assert.ok((await metric(s, 'swarmd_http_connections_cut_total')) >= 1);
      } finally {
        await s.stop();
      }
    });
  }
});
