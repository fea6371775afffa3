// HTTP announce and scrape over real sockets, on IPv4 (127.0.0.1) and IPv6 (::1).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { decode } from '../../src/protocol/bencode.ts';
import {
  announceTarget,
  compactPeers,
  get,
  type HttpResponse,
  openConnection,
  parseResponse,
  pct,
  rawHttp,
  type Swarmd,
  startSwarmd,
} from '../helpers/swarmd.ts';

type Dict = Record<string, unknown>;

function decoded(r: HttpResponse): Dict {
  assert.equal(r.status, 200, `status ${r.status}: ${r.body.toString('latin1')}`);
  // The strict decoder refuses non-canonical bencode (unsorted or repeated keys), so every reply is checked for it.
  return decode(r.body) as unknown as Dict;
}

/** The decoder makes prototype-less dictionaries; deepEqual wants plain objects. */
function plain(v: unknown): Dict {
  return { ...(v as Dict) };
}

function text(v: unknown): string {
  return Buffer.from(v as Uint8Array).toString('latin1');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Both HTTP paths: the batched native addon (which must load in CI) and node:net.
for (const [host, io] of [
  ['127.0.0.1', 'native'],
  ['::1', 'native'],
  ['127.0.0.1', 'net'],
  ['::1', 'net'],
]) {
  const family = host.includes(':') ? 'IPv6' : 'IPv4';
  const size = host.includes(':') ? 18 : 6;
  const peersKey = host.includes(':') ? 'peers6' : 'peers';
  const self = host.includes(':') ? '0000:0000:0000:0000:0000:0000:0000:0001' : '127.0.0.1';

  describe(`HTTP over ${family} with ${io} I/O`, () => {
    let s: Swarmd;
    before(async () => {
      s = await startSwarmd(
        [host],
        ['--max-peers', '20', '--interval', '1000', '--min-interval', '30', '--http-io', io],
      );
      assert.match(s.output(), new RegExp(`"io":"${io}"`), 'the HTTP listener reports the I/O path asked for');
    });
    after(() => s.stop());

    test('announce replies with counts, intervals, external ip and tracker id; no peers for the first peer', async () => {
      const hash = randomBytes(20);
      const d = decoded(await get(s, announceTarget({ hash, port: 7001, left: 0 })));
      assert.equal(d.complete, 1);
      assert.equal(d.incomplete, 0);
      assert.equal(d.downloaded, 0);
      assert.ok((d.interval as number) >= 900 && (d.interval as number) <= 1100, `interval ${d.interval}`);
      assert.equal(d['min interval'], 30);
      assert.equal(text(d['tracker id']), 'swarmd');
      const ip = Buffer.from(d['external ip'] as Uint8Array);
      assert.equal(ip.length, host.includes(':') ? 16 : 4);
      assert.equal(ip[ip.length - 1], 1);
      assert.equal((d.peers as Uint8Array).length, 0);
      assert.equal(d.peers6, undefined);
    });

    test('a leecher gets the seeder; the seeder gets the leecher but never itself or other seeders', async () => {
      const hash = randomBytes(20);
      await get(s, announceTarget({ hash, port: 7001, left: 0 }));
      await get(s, announceTarget({ hash, port: 7002, left: 0 }));
      const leecher = decoded(await get(s, announceTarget({ hash, port: 7003, left: 5, event: 'started' })));
      assert.deepEqual(
        compactPeers(leecher[peersKey] as Uint8Array, size as 6 | 18).sort(),
        [`${self}:7001`, `${self}:7002`].sort(),
      );
      const seeder = decoded(await get(s, announceTarget({ hash, port: 7001, left: 0 })));
      assert.deepEqual(compactPeers(seeder[peersKey] as Uint8Array, size as 6 | 18), [`${self}:7003`]);
      assert.equal(seeder.complete, 2);
      assert.equal(seeder.incomplete, 1);
    });

    test('numwant is honoured and capped at --max-peers; the requester is never in its own list', async () => {
      const hash = randomBytes(20);
      for (let p = 8000; p < 8030; p++) await get(s, announceTarget({ hash, port: p }));
      const few = decoded(await get(s, announceTarget({ hash, port: 8000, numwant: 5 })));
      assert.equal((few[peersKey] as Uint8Array).length, 5 * size);
      const many = decoded(await get(s, announceTarget({ hash, port: 8000, numwant: 1000 })));
      const list = compactPeers(many[peersKey] as Uint8Array, size as 6 | 18);
      assert.equal(list.length, 20);
      assert.equal(new Set(list).size, 20, 'no peer twice');
      assert.ok(!list.includes(`${self}:8000`));
      const none = decoded(await get(s, announceTarget({ hash, port: 8000, numwant: 0 })));
      assert.equal((none[peersKey] as Uint8Array | undefined)?.length ?? 0, 0);
    });

    test('compact=0 gives the dictionary model: ip and port, no peer id (none are stored)', async () => {
      const hash = randomBytes(20);
      await get(s, announceTarget({ hash, port: 7101, left: 0 }));
      const d = decoded(await get(s, announceTarget({ hash, port: 7102, extra: '&compact=0' })));
      const peers = d.peers as Dict[];
      assert.equal(peers.length, 1);
      assert.equal(text(peers[0].ip), host);
      assert.equal(peers[0].port, 7101);
      assert.deepEqual(Object.keys(peers[0]).sort(), ['ip', 'port']);
    });

    test('stopped removes the peer at once and an empty torrent is dropped', async () => {
      const hash = randomBytes(20);
      await get(s, announceTarget({ hash, port: 7201 }));
      const stop = decoded(await get(s, announceTarget({ hash, port: 7201, event: 'stopped' })));
      assert.equal(stop.incomplete, 0);
      const scrape = decoded(await get(s, `/scrape?info_hash=${pct(hash)}`));
      const files = scrape.files as Record<string, Dict>;
      assert.deepEqual(plain(files[hash.toString('latin1')]), {
        complete: 0,
        downloaded: 0,
        downloaders: 0,
        incomplete: 0,
      });
    });

    test('completed counts once per peer, and only from a seeder; paused peers are partial seeds', async () => {
      const hash = randomBytes(20);
      await get(s, announceTarget({ hash, port: 7301, left: 10, event: 'completed' }));
      await get(s, announceTarget({ hash, port: 7301, left: 0, event: 'completed' }));
      await get(s, announceTarget({ hash, port: 7301, left: 0, event: 'completed' }));
      const d = decoded(await get(s, announceTarget({ hash, port: 7302, left: 10, event: 'paused' })));
      assert.equal(d.downloaded, 1);
      assert.equal(d.complete, 1);
      assert.equal(d.incomplete, 1);
      // A partial seed does not want seeders, and the only other peer is one.
      assert.equal((d[peersKey] as Uint8Array | undefined)?.length ?? 0, 0);
      const f = decoded(await get(s, `/scrape?info_hash=${pct(hash)}`)).files as Record<string, Dict>;
      assert.deepEqual(plain(f[hash.toString('latin1')]), {
        complete: 1,
        downloaded: 1,
        downloaders: 0,
        incomplete: 1,
      });
    });

    test('bad announces get HTTP 200 and a failure reason that names the problem', async () => {
      const cases: [string, RegExp][] = [
        ['/announce?peer_id=-TT0001-000000000001&port=1', /info_hash/],
        [`/announce?info_hash=${pct(randomBytes(19))}&peer_id=-TT0001-000000000001&port=1`, /info_hash/],
        [`/announce?info_hash=${pct(randomBytes(20))}&peer_id=short&port=1`, /peer_id/],
        [`/announce?info_hash=${pct(randomBytes(20))}&peer_id=-TT0001-000000000001`, /port/],
        [`/announce?info_hash=${pct(randomBytes(20))}&peer_id=-TT0001-000000000001&port=99999`, /port/],
        [`${announceTarget({ hash: randomBytes(20), port: 1 })}&event=bogus`, /event/],
        [`${announceTarget({ hash: randomBytes(20), port: 1 })}&numwant=x`, /numwant/],
      ];
      for (const [target, pattern] of cases) {
        const d = decoded(await get(s, target));
        assert.match(text(d['failure reason']), pattern, target);
      }
    });

    test('unknown paths get 404 and other methods 405', async () => {
      assert.equal((await get(s, '/nothing')).status, 404);
      const [post] = await rawHttp(s.host, s.port, 'POST /announce HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(post.status, 405);
    });

    test('scrape answers several hashes in canonical order, each once, unknown ones as zeros', async () => {
      const a = Buffer.alloc(20, 0xaa);
      const b = Buffer.alloc(20, 0x11);
      a[0] = randomBytes(1)[0] | 0x80;
      b[19] = randomBytes(1)[0];
      await get(s, announceTarget({ hash: a, port: 7401, left: 0 }));
      const r = await get(s, `/scrape?info_hash=${pct(a)}&info_hash=${pct(b)}&info_hash=${pct(a)}`);
      const d = decoded(r);
      const files = d.files as Record<string, Dict>;
      assert.deepEqual(Object.keys(files), [b.toString('latin1'), a.toString('latin1')]);
      assert.equal(files[a.toString('latin1')].complete, 1);
      assert.equal(files[b.toString('latin1')].complete, 0);
      assert.deepEqual(plain(d.flags), { min_request_interval: 30 });
    });

    test('up to --max-scrape-hashes (default 64) are answered; more is refused with the limit in the reason', async () => {
      const hashes = Array.from({ length: 65 }, () => `info_hash=${pct(randomBytes(20))}`);
      const files = decoded(await get(s, `/scrape?${hashes.slice(0, 64).join('&')}`)).files as Record<string, unknown>;
      assert.equal(Object.keys(files).length, 64);
      assert.match(text(decoded(await get(s, `/scrape?${hashes.join('&')}`))['failure reason']), /at most 64/);
    });

    test('full scrape is refused unless --full-scrape is given', async () => {
      assert.match(text(decoded(await get(s, '/scrape'))['failure reason']), /full scrape/);
    });

    test('keep-alive and pipelining: three requests in one write, three answers in order', async () => {
      const hash = randomBytes(20);
      const req = (port: number) => `GET ${announceTarget({ hash, port, left: 0 })} HTTP/1.1\r\nHost: t\r\n\r\n`;
      const responses = await rawHttp(s.host, s.port, req(7501) + req(7502) + req(7503), 3);
      assert.deepEqual(
        responses.map((r) => decoded(r).complete),
        [1, 2, 3],
      );
    });

    test('an oversized request head is refused with 431 and the connection closed', async () => {
      const [r] = await rawHttp(s.host, s.port, `GET /announce?x=${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`);
      assert.equal(r.status, 431);
    });
  });
}

/**
 * Sends `request`, reads nothing for half a second, then reads until the server closes: the one response and the
 * count of bytes after it.
 */
async function slowRead(port: number, request: string): Promise<{ response: HttpResponse; trailing: number }> {
  const socket = await openConnection('127.0.0.1', port);
  socket.pause();
  socket.write(request);
  setTimeout(() => socket.resume(), 500);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      const data = Buffer.concat(chunks);
      const parsed = parseResponse(data);
      if (parsed === null) reject(new Error(`closed after ${data.length} bytes, before the whole response`));
      else resolve({ response: parsed.response, trailing: data.length - parsed.end });
    });
    socket.on('error', reject);
  });
}

// Large volumes on one connection: replies that do not fit the native path's reply slot or the socket's buffer.
for (const io of ['native', 'net']) {
  test(`${io} I/O: 3,000 pipelined announces are answered in order, and a full scrape of 3,000 torrents arrives whole`, async () => {
    const s = await startSwarmd(['127.0.0.1'], ['--full-scrape', '--http-io', io, '--max-peers', '5']);
    try {
      const one = randomBytes(20);
      const target = (hash: Buffer, i: number) =>
        `GET ${announceTarget({ hash, port: 10_000 + i, left: 0 })} HTTP/1.1\r\nHost: t\r\n\r\n`;
      const inOrder = await rawHttp(
        '127.0.0.1',
        s.port,
        Array.from({ length: 3000 }, (_, i) => target(one, i)).join(''),
        3000,
      );
      assert.equal(inOrder.length, 3000);
      // The i-th reply counts the i + 1 seeders announced so far: replies come back in request order.
      for (const [i, r] of inOrder.entries()) assert.equal(decoded(r).complete, i + 1);

      const hashes = Array.from({ length: 3000 }, () => randomBytes(20));
      const replies = await rawHttp('127.0.0.1', s.port, hashes.map((h, i) => target(h, i)).join(''), 3000);
      assert.ok(replies.every((r) => r.status === 200));
      const full = await get(s, '/scrape');
      assert.ok(full.body.length > 200_000, `a full scrape of ${full.body.length} bytes`);
      const files = decoded(full).files as Record<string, Dict>;
      for (const hash of [one, ...hashes]) assert.ok(Number(files[hash.toString('latin1')]?.complete) >= 1);
    } finally {
      await s.stop();
    }
  });
}

// A last response (`Connection: close`) larger than the kernel takes in one write (up to tcp_wmem's 4 MiB here), to a
// client that reads nothing at first: the connection closes only once all of it went out.
for (const io of ['native', 'net']) {
  test(`${io} I/O: a 7 MB full scrape to a 'Connection: close' request arrives whole before the close`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmd-close-'));
    const dump = join(dir, 'statedump');
    const base = Math.floor(Date.now() / 60_000);
    const lines = Array.from({ length: 100_000 }, () => `${randomBytes(20).toString('hex')}:${base}:1\n`);
    await writeFile(dump, lines.join(''));
    const s = await startSwarmd(['127.0.0.1'], ['--full-scrape', '--http-io', io, '-l', dump]);
    try {
      const keptOpen = await get(s, '/scrape');
      assert.ok(keptOpen.body.length > 6_000_000, `a full scrape of ${keptOpen.body.length} bytes`);
      const closing = await slowRead(s.port, 'GET /scrape HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      assert.equal(closing.response.headers.connection, 'close');
      assert.ok(closing.response.body.equals(keptOpen.body));
      assert.equal(closing.trailing, 0);
    } finally {
      await s.stop();
      await rm(dir, { recursive: true });
    }
  });
}

// The server's list of open connections, under churn: connections that close in a scattered order leave the others
// watched, so the idle ones among them are cut at the idle timeout and the busy ones are kept.
for (const io of ['native', 'net']) {
  test(`${io} I/O: after others close out of order, idle connections are cut and busy ones kept`, async () => {
    const s = await startSwarmd(['127.0.0.1'], ['--http-io', io, '--idle-timeout', '2']);
    const sockets = await Promise.all(Array.from({ length: 12 }, () => openConnection('127.0.0.1', s.port)));
    try {
      // When the server closed each one (its end of the stream); 0 while open.
      const closedAt = sockets.map(() => 0);
      for (const [i, socket] of sockets.entries()) socket.once('end', () => (closedAt[i] = Date.now()));
      const ask = (i: number) => exchange(sockets[i], 'GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n');
      for (let i = 0; i < 12; i++) assert.equal(await ask(i), 404);
      for (const i of [1, 7, 3, 10, 5, 0]) sockets[i].destroy();
      const busy = [2, 9];
      const idle = [4, 6, 8, 11];
      const start = Date.now();
      while (Date.now() - start < 4500) {
        for (const i of busy) assert.equal(await ask(i), 404, `busy connection ${i}`);
        await sleep(400);
      }
      for (const i of idle) assert.ok(closedAt[i] !== 0 && closedAt[i] - start < 4000, `idle connection ${i} not cut`);
      for (const i of busy) assert.equal(closedAt[i], 0, `busy connection ${i} cut`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await s.stop();
    }
  });
}

/** Sends one request on an open connection and resolves with the status of the one response. */
function exchange(socket: net.Socket, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parseResponse(data);
      if (parsed === null) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(parsed.response.status);
    };
    const onClose = () => reject(new Error('closed before the response'));
    if (socket.closed) return onClose();
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(request);
  });
}

// A --max-peers whose largest reply (the dictionary model) could overflow a native reply slot: replies are then built
// in the handler's own buffer and copied, instead of in place.
for (const io of ['native', 'net']) {
  test(`${io} I/O: with --max-peers 1000, 1,000 peers come back whole, compact and as dictionaries`, async () => {
    const s = await startSwarmd(['127.0.0.1'], ['--http-io', io, '--max-peers', '1000']);
    try {
      const hash = randomBytes(20);
      const target = (i: number) =>
        `GET ${announceTarget({ hash, port: 20_000 + i, numwant: 0 })} HTTP/1.1\r\nHost: t\r\n\r\n`;
      const filled = await rawHttp(
        '127.0.0.1',
        s.port,
        Array.from({ length: 1001 }, (_, i) => target(i)).join(''),
        1001,
      );
      assert.ok(filled.every((r) => r.status === 200));
      const compact = decoded(await get(s, announceTarget({ hash, port: 20_000, numwant: 5000 })));
      const peers = compactPeers(compact.peers as Uint8Array, 6);
      assert.equal(new Set(peers).size, 1000);
      assert.ok(!peers.includes('127.0.0.1:20000'));
      const dict = decoded(await get(s, announceTarget({ hash, port: 20_000, numwant: 5000, extra: '&compact=0' })));
      const ports = (dict.peers as Dict[]).map((p) => p.port);
      assert.equal(new Set(ports).size, 1000);
      assert.ok(!ports.includes(20_000));
    } finally {
      await s.stop();
    }
  });
}

describe('HTTP with both families, full scrape and expiry', () => {
  let s: Swarmd;
  before(async () => {
    s = await startSwarmd(['127.0.0.1', '::1'], ['--full-scrape', '--peer-ttl', '2']);
  });
  after(() => s.stop());

  test('an HTTP client gets IPv4 peers in `peers` and IPv6 peers in `peers6`', async () => {
    const hash = randomBytes(20);
    await get({ host: '::1', port: s.port }, announceTarget({ hash, port: 7601, left: 0 }));
    await get({ host: '127.0.0.1', port: s.port }, announceTarget({ hash, port: 7602, left: 0 }));
    const d = decoded(await get({ host: '127.0.0.1', port: s.port }, announceTarget({ hash, port: 7603 })));
    assert.deepEqual(compactPeers(d.peers as Uint8Array, 6), ['127.0.0.1:7602']);
    assert.deepEqual(compactPeers(d.peers6 as Uint8Array, 18), ['0000:0000:0000:0000:0000:0000:0000:0001:7601']);
  });

  for (const host of ['127.0.0.1', '::1']) {
    test(`full scrape over ${host} lists every torrent, gzip-compressed when the client accepts gzip`, async () => {
      const c = { host, port: s.port };
      const hashes = [randomBytes(20), randomBytes(20), randomBytes(20)];
      for (const hash of hashes) await get(c, announceTarget({ hash, port: 7701, left: 0 }));
      const plain = await get(c, '/scrape');
      const files = decoded(plain).files as Record<string, Dict>;
      for (const hash of hashes) assert.equal(files[hash.toString('latin1')]?.complete, 1);
      const keys = Object.keys(files).map((k) => Buffer.from(k, 'latin1'));
      const sorted = [...keys].sort(Buffer.compare);
      assert.deepEqual(keys, sorted, 'keys in ascending byte order');
      const zipped = await get(c, '/scrape', 'Accept-Encoding: gzip\r\n');
      assert.equal(zipped.headers['content-encoding'], 'gzip');
      assert.deepEqual(gunzipSync(zipped.body), plain.body);
    });

    test(`over ${host}, a peer expires after --peer-ttl seconds without an announce, and its torrent goes`, async () => {
      const c = { host, port: s.port };
      const hash = randomBytes(20);
      await get(c, announceTarget({ hash, port: 7801, left: 0 }));
      await sleep(4500);
      const files = decoded(await get(c, '/scrape')).files as Record<string, Dict>;
      assert.equal(files[hash.toString('latin1')], undefined);
    });
  }
});
