// The query tool (`swarmd query`, `swarmd-query`) run as a child process against real trackers over real sockets:
// swarmd over HTTP, HTTPS and UDP on IPv4 and IPv6, Debian's opentracker, and small hostile servers written here for
// what a well-behaved tracker never does (gzip, redirects, impostor datagrams, malformed replies, silence).
//
// The opentracker tests need Debian's `opentracker` package; without it they are skipped, or fail when CI is set.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encode } from '../../src/protocol/bencode.ts';
import {
  makeRunDir,
  type Opentracker,
  removeRunDir,
  requireOpentracker,
  startOpentracker,
} from '../helpers/opentracker.ts';
import { freePort } from '../helpers/ports.ts';
import { REPO_ROOT, type Swarmd, spawnSwarmd, startSwarmd } from '../helpers/swarmd.ts';
import { type Ca, type Issued, issue, makeCa, removeCa } from '../helpers/tls.ts';

const { binary: OPENTRACKER, skip: opentrackerMissing } = requireOpentracker();

// ---------------------------------------------------------------------------------------------------------------
// Running the tool

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs `node bin/swarmd-query ARGS` to its exit, or `node src/main.ts query ARGS` with `main` (slower to start: it
 * loads the tracker too, so most runs take the bin).
 */
function query(args: string[], entry: 'main' | 'bin' = 'bin'): Promise<Run> {
  const script = entry === 'main' ? ['src/main.ts', 'query'] : ['bin/swarmd-query'];
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => {
      stdout += d;
    });
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - start });
    });
  });
}

interface PeerOut {
  ip: string;
  port: number;
  type: string;
  peer_id: string | null;
}

interface Out {
  ok: boolean;
  error: string | null;
  action: string;
  protocol: string;
  url: string | null;
  redirects: { status: number; location: string }[];
  address: string | null;
  tls: { verified: boolean; issuer: string | null } | null;
  status: number | null;
  failure_reason: string | null;
  request: { info_hash: string; peer_id: string; port: number; event: string; left: number; num_want: number };
  interval: number | null;
  seeds: number | null;
  leechers: number | null;
  ipv4_peers: number | null;
  ipv6_peers: number | null;
  peers: PeerOut[];
  torrent_count: number | null;
  torrents: { info_hash: string; complete: number; incomplete: number; downloaded: number | null }[];
}

/** Runs the tool with --json: stdout must be exactly one JSON object and stderr empty, whatever the exit code. */
async function queryJson(args: string[], entry: 'main' | 'bin' = 'bin'): Promise<{ code: number | null; out: Out }> {
  const r = await query([...args, '--json'], entry);
  assert.equal(r.stderr, '', 'nothing on stderr in JSON mode');
  let out: Out;
  try {
    out = JSON.parse(r.stdout) as Out;
  } catch {
    assert.fail(`stdout is not one JSON object:\n${r.stdout}`);
  }
  assert.equal(out.ok, r.code === 0);
  return { code: r.code, out };
}

/** A readable 40-hex-digit hash: `tag` repeated. */
const hashOf = (tag: number): string => Buffer.alloc(20, tag).toString('hex');

function torrent(out: Out, hash: string) {
  const found = out.torrents.find((t) => t.info_hash === hash);
  assert.ok(found, `${hash} in ${JSON.stringify(out.torrents)}`);
  return found;
}

const endpoints = (out: Out): string[] => out.peers.map((p) => `${p.ip}:${p.port}/${p.type}`);

// ---------------------------------------------------------------------------------------------------------------
// swarmd over HTTP and UDP, IPv4 and IPv6

describe('against swarmd', () => {
  let swarmd: Swarmd;
  let fullScrape: Swarmd;
  before(async () => {
    [swarmd, fullScrape] = await Promise.all([
      startSwarmd(['127.0.0.1', '::1']),
      startSwarmd(['127.0.0.1'], ['--full-scrape']),
    ]);
  });
  after(async () => {
    await Promise.all([swarmd?.stop(), fullScrape?.stop()]);
  });

  const urls = () => ({
    http4: `http://127.0.0.1:${swarmd.port}/announce`,
    http6: `http://[::1]:${swarmd.port}/announce`,
    udp4: `udp://127.0.0.1:${swarmd.port}/announce`,
    udp6: `udp://[::1]:${swarmd.port}`,
  });

  test('announce: a seed then a leecher of one torrent, over HTTP and UDP, IPv4 and IPv6', async () => {
    const cases = [
      { url: urls().http4, tag: 0x41, ip: '127.0.0.1', type: 'ipv4' },
      { url: urls().udp4, tag: 0x42, ip: '127.0.0.1', type: 'ipv4' },
      { url: urls().http6, tag: 0x61, ip: '::1', type: 'ipv6' },
      { url: urls().udp6, tag: 0x62, ip: '::1', type: 'ipv6' },
    ];
    await Promise.all(
      cases.map(async ({ url, tag, ip, type }) => {
        const hash = hashOf(tag);
        const seed = await queryJson(['-t', url, '-H', hash, '--port', '7001', '-L', '0'], 'main');
        assert.equal(seed.code, 0, `${url}: ${seed.out.error}`);
        assert.deepEqual([seed.out.seeds, seed.out.leechers, seed.out.peers], [1, 0, []], url);
        assert.deepEqual(seed.out.request.info_hash, hash);
        assert.deepEqual([seed.out.request.event, seed.out.request.left], ['started', 0]);
        // The second peer through the bin, with a peer id of its own.
        const leecher = await queryJson(
          ['-t', url, '-H', hash, '--port', '7002', '--peer-id', '-QT0001-leecher00001'],
          'bin',
        );
        assert.equal(leecher.code, 0, `${url}: ${leecher.out.error}`);
        assert.equal(leecher.out.request.peer_id, Buffer.from('-QT0001-leecher00001').toString('hex'));
        assert.deepEqual([leecher.out.seeds, leecher.out.leechers], [1, 1], url);
        assert.deepEqual(endpoints(leecher.out), [`${ip}:7001/${type}`], url);
        assert.deepEqual([leecher.out.ipv4_peers, leecher.out.ipv6_peers], type === 'ipv4' ? [1, 0] : [0, 1]);
        assert.ok((leecher.out.interval ?? 0) > 0);
        assert.equal(leecher.out.protocol, url.slice(0, url.indexOf(':')));
        assert.equal(leecher.out.address, `${ip.includes(':') ? `[${ip}]` : ip}:${swarmd.port}`);
        if (url.startsWith('http')) {
          assert.equal(leecher.out.status, 200);
          assert.match(leecher.out.url ?? '', /\?info_hash=(%[0-9A-F]{2}){20}&peer_id=%2D%51%54/);
        }
      }),
    );
  });

  test('scrape of one and two hashes over HTTP and UDP; stopped takes a peer away; event none', async () => {
    const [a, b] = [hashOf(0x71), hashOf(0x72)];
    const announced = await Promise.all([
      queryJson(['-t', urls().http4, '-H', a, '--port', '7011', '-L', '0']),
      queryJson(['-t', urls().udp4, '-H', a, '--port', '7012']),
      queryJson(['-t', urls().udp6, '-H', b, '--port', '7013', '-e', 'none']),
    ]);
    for (const r of announced) assert.equal(r.code, 0, r.out.error ?? '');
    await Promise.all(
      [urls().http4, urls().udp4, urls().http6, urls().udp6].map(async (url, i) => {
        const one = await queryJson(['-t', url, '-s', '-H', b], i % 2 === 0 ? 'main' : 'bin');
        assert.equal(one.code, 0, one.out.error ?? '');
        assert.deepEqual([one.out.action, one.out.torrent_count], ['scrape', 1]);
        assert.deepEqual([torrent(one.out, b).complete, torrent(one.out, b).incomplete], [0, 1], url);
        const two = await queryJson(['-t', url, '-s', '-H', a, '-H', b]);
        assert.equal(two.out.torrent_count, 2);
        assert.deepEqual([torrent(two.out, a).complete, torrent(two.out, a).incomplete], [1, 1], url);
        assert.deepEqual([torrent(two.out, b).complete, torrent(two.out, b).incomplete], [0, 1], url);
      }),
    );
    const stopped = await queryJson(['-t', urls().udp4, '-H', a, '--port', '7012', '-e', 'stopped']);
    assert.equal(stopped.code, 0, stopped.out.error ?? '');
    const after = await queryJson(['-t', urls().http4, '-s', '-H', a]);
    assert.deepEqual([torrent(after.out, a).complete, torrent(after.out, a).incomplete], [1, 0]);
  });

  test('full scrape: refused by default (exit 1, the failure reason), listed with --full-scrape', async () => {
    const refused = await queryJson(['-t', urls().http4, '--full-scrape']);
    assert.equal(refused.code, 1);
    assert.match(refused.out.failure_reason ?? '', /full scrape is disabled/);
    assert.match(refused.out.error ?? '', /the tracker refused: full scrape is disabled/);
    const table = await query(['-t', urls().http4, '--full-scrape'], 'main');
    assert.equal(table.code, 1);
    assert.match(table.stdout, /^Failure {7}full scrape is disabled/m);
    assert.match(table.stderr, /^swarmd query: the tracker refused: full scrape is disabled.*\n$/);

    const hash = hashOf(0x7f);
    const seeded = await queryJson(['-t', `udp://127.0.0.1:${fullScrape.port}`, '-H', hash, '-L', '0']);
    assert.equal(seeded.code, 0, seeded.out.error ?? '');
    const full = await queryJson(['-t', `http://127.0.0.1:${fullScrape.port}/announce`, '--full-scrape']);
    assert.equal(full.code, 0, full.out.error ?? '');
    assert.equal(full.out.action, 'full-scrape');
    assert.deepEqual([torrent(full.out, hash).complete, torrent(full.out, hash).incomplete], [1, 0]);
  });

  test('table output: title, progress and summary lines, the peer list with -p', async () => {
    const hash = hashOf(0x81);
    await queryJson(['-t', urls().http4, '-H', hash, '--port', '7021']);
    const r = await query(['-t', urls().http4, '-H', hash, '--port', '7022', '-p'], 'main');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = [
      new RegExp(`^HTTP announce, event started → http://127\\.0\\.0\\.1:${swarmd.port}/announce$`),
      /^Client {8}swarmd-query\/\d+\.\d+\.\d+$/,
      new RegExp(`^Info hash {5}${hash}$`),
      /^Peer id {7}-SQ0001-[0-9A-Za-z]{12}$/,
      /^Request {7}GET http:\/\/127\.0\.0\.1:\d+\/announce\?info_hash=/,
      /^Reply {9}200 OK, \d+ bytes in [\d.]+ ms$/,
      /^Interval {6}\d+ s$/,
      /^Seeds {9}0$/,
      /^Leechers {6}2$/,
      /^IPv4 peers {4}1 \(6 bytes\)$/,
      /^Peers {9}1 of 50 wanted$/,
      /^ {4}1 {2}127\.0\.0\.1:7021 +ipv4$/,
    ];
    for (const line of lines) assert.match(r.stdout, new RegExp(line.source, 'm'));

    const udp = await query(['-t', urls().udp6, '-s', '-H', hash]);
    assert.equal(udp.code, 0, udp.stderr);
    for (const line of [
      /^UDP scrape of 1 torrent → udp:\/\/\[::1\]:\d+$/,
      /^Address {7}\[::1\]:\d+ \(IPv6\)$/,
      /^Connect {7}transaction 0x[0-9a-f]{8} → connection id [0-9a-f]{16} in [\d.]+ ms$/,
      /^Torrents {6}1$/,
      new RegExp(`^ {2}${hash} +0 +2 +0$`),
    ]) {
      assert.match(udp.stdout, new RegExp(line.source, 'm'));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Errors and usage

describe('errors', () => {
  test('a UDP port nobody answers: exit 1 after --timeout, the reason in JSON or on stderr', async () => {
    const silent = dgram.createSocket('udp4');
    let received = 0;
    silent.on('message', () => received++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const url = `udp://127.0.0.1:${(silent.address() as AddressInfo).port}/announce`;
    try {
      const [json, table] = await Promise.all([
        query(['-t', url, '--timeout', '1', '--json']),
        query(['-t', url, '--timeout', '1']),
      ]);
      for (const r of [json, table]) {
        assert.equal(r.code, 1);
        assert.ok(r.ms < 4000, `took ${r.ms} ms`);
      }
      assert.match((JSON.parse(json.stdout) as Out).error ?? '', /^timed out after 1 s waiting for the connect reply/);
      assert.match(
        table.stderr,
        /^swarmd query: timed out after 1 s waiting for the connect reply from 127\.0\.0\.1:\d+/,
      );
      assert.ok(received >= 2, 'both connect requests arrived');
    } finally {
      silent.close();
    }
  });

  test('HTTP connection refused: exit 1', async () => {
    const port = await freePort();
    const { code, out } = await queryJson(['-t', `http://127.0.0.1:${port}/announce`], 'main');
    assert.equal(code, 1);
    assert.equal(out.error, `connection refused by 127.0.0.1:${port}`);
  });

  test('usage errors exit 2 with one line on stderr and nothing on stdout', async () => {
    const runs = await Promise.all([
      query(['-t', 'http://127.0.0.1:1/announce', '-H', 'nothex'], 'main'),
      query(['-t', 'http://127.0.0.1:1/announce', '--json', '--bogus']),
      query(['-t', 'udp://127.0.0.1:1', '--full-scrape']),
      query(['-t', 'http://127.0.0.1:1/tracker', '-s', '-H', hashOf(1)]),
    ]);
    const reasons = [/'nothex' is not 40 hex digits/, /Unknown option '--bogus'/, /no full scrape/, /cannot scrape/];
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^swarmd query: [^\n]+\n$/);
      assert.match(r.stderr, reasons[i]);
    });
    const help = await query(['--help']);
    assert.equal(help.code, 0);
    for (const flag of [
      '--tracker',
      '--hash',
      '--event',
      '--num-want',
      '--left',
      '--peer-id',
      '--scrape',
      '--full-scrape',
    ]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile HTTP and UDP servers

/** An HTTP server on 127.0.0.1 answering with `handler`; it records each request. */
async function httpServer(handler: http.RequestListener) {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const ANNOUNCE_REPLY = encode({
  interval: 900,
  complete: 2,
  incomplete: 3,
  peers: Buffer.from([10, 0, 0, 9, 0x1a, 0xe1]),
});

describe('hostile or unusual HTTP trackers', () => {
  test('the request: percent-encoded bytes, a passkey query kept, gzip accepted and unpacked; redirects followed', async () => {
    const server = await httpServer((req, res) => {
      if (req.url?.startsWith('/old/')) {
        res.writeHead(302, { Location: `/new/announce${req.url.slice(req.url.indexOf('?'))}` }).end();
      } else if (req.url?.startsWith('/loop')) {
        res.writeHead(307, { Location: '/loop/announce' }).end();
      } else {
        res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(ANNOUNCE_REPLY));
      }
    });
    try {
      const hash = 'ff00112233445566778899aabbccddeeff001122';
      const base = `http://127.0.0.1:${server.port}`;
      const { code, out } = await queryJson([
        '-t',
        `${base}/old/announce?pk=s3cr%2Bt`,
        '-H',
        hash,
        '-e',
        'none',
        '-n',
        '9',
      ]);
      assert.equal(code, 0, out.error ?? '');
      assert.deepEqual(out.redirects, [
        { status: 302, location: `${base}/new/announce${out.url?.slice(out.url.indexOf('?'))}` },
      ]);
      assert.deepEqual([out.interval, out.seeds, out.leechers], [900, 2, 3]);
      assert.deepEqual(endpoints(out), ['10.0.0.9:6881/ipv4']);
      const [first, second] = server.requests;
      const hashEncoded = hash.replace(/(..)/g, '%$1').toUpperCase();
      assert.equal(
        first.url,
        `/old/announce?pk=s3cr%2Bt&info_hash=${hashEncoded}&peer_id=${out.url?.match(/peer_id=([^&]+)/)?.[1]}` +
          '&port=6881&uploaded=0&downloaded=0&left=1000000000&compact=1&numwant=9',
      );
      assert.equal(second.url, first.url?.replace('/old/', '/new/'));
      assert.equal(first.headers['accept-encoding'], 'gzip');
      assert.match(first.headers['user-agent'] ?? '', /^swarmd-query\//);

      const loop = await queryJson(['-t', `${base}/loop/announce`]);
      assert.equal(loop.code, 1);
      assert.equal(loop.out.error, 'more than 5 redirects');
      assert.equal(loop.out.redirects.length, 6);
    } finally {
      await server.close();
    }
  });

  test('non-200, garbage, a failure reason, a malformed field, a gzip bomb: exit 1 with the reason', async () => {
    const replies: Record<string, (res: http.ServerResponse) => void> = {
      '/404/announce': (res) => res.writeHead(404).end('no'),
      '/400/announce': (res) => res.writeHead(400).end(encode({ 'failure reason': Buffer.from('bad passkey') })),
      '/html/announce': (res) => res.writeHead(200).end('<html>\x1b[2J</html>'),
      '/failure/announce': (res) =>
        res.writeHead(200).end(encode({ 'failure reason': Buffer.from('unregistered torrent') })),
      '/malformed/announce': (res) => res.writeHead(200).end(encode({ interval: 60, peers: Buffer.alloc(5) })),
      '/bomb/announce': (res) =>
        res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(Buffer.alloc(17 << 20))),
    };
    const server = await httpServer((req, res) => replies[new URL(req.url ?? '/', 'http://x').pathname]?.(res));
    try {
      const expected: Record<string, string | RegExp> = {
        '/404/announce': 'HTTP 404 Not Found',
        '/400/announce': 'HTTP 400 Bad Request: bad passkey',
        '/html/announce': /^undecodable reply: unexpected byte 0x3c at offset 0; it starts '<html>\\x1b\[2J<\/html…'$/,
        '/failure/announce': 'the tracker refused: unregistered torrent',
        '/malformed/announce': "malformed reply: 'peers' is 5 bytes, not a multiple of 6",
        '/bomb/announce': `the gzip reply unpacks to more than ${16 << 20} bytes`,
      };
      await Promise.all(
        Object.entries(expected).map(async ([route, reason]) => {
          const { code, out } = await queryJson(['-t', `http://127.0.0.1:${server.port}${route}`]);
          assert.equal(code, 1, route);
          if (typeof reason === 'string') assert.equal(out.error, reason, route);
          else assert.match(out.error ?? '', reason, route);
        }),
      );
      // In a table the tracker's text cannot reach the terminal as control bytes.
      const table = await query(['-t', `http://127.0.0.1:${server.port}/html/announce`]);
      assert.ok(!table.stderr.includes('\x1b'));
      assert.ok(table.stderr.includes('\\x1b[2J'));
    } finally {
      await server.close();
    }
  });
});

/**
 * A fake UDP tracker on 127.0.0.1. `answer` gets each request and sends replies with `reply` (from the tracker's
 * address) or `impostor` (from another socket, to the same client).
 */
async function udpTracker(
  answer: (request: Buffer, reply: (b: Buffer) => void, impostor: (b: Buffer) => void) => void,
): Promise<{ port: number; close: () => void }> {
  const tracker = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  await Promise.all([
    new Promise<void>((resolve) => tracker.bind(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve)),
  ]);
  tracker.on('message', (msg, from) => {
    answer(
      msg,
      (b) => tracker.send(b, from.port, from.address),
      (b) => other.send(b, from.port, from.address),
    );
  });
  return {
    port: (tracker.address() as AddressInfo).port,
    close: () => {
      tracker.close();
      other.close();
    },
  };
}

function header(action: number, transactionId: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(action, 0);
  b.writeUInt32BE(transactionId, 4);
  return b;
}

describe('hostile UDP trackers', () => {
  test('datagrams from another address or with another transaction id are ignored', async () => {
    const tracker = await udpTracker((request, reply, impostor) => {
      const action = request.readUInt32BE(8);
      const tid = request.readUInt32BE(12);
      if (action === 0) {
        impostor(header(3, tid, 8 + 5).fill('spoof', 8));
        const connected = header(0, tid, 16);
        connected.write('cid12345', 8);
        reply(connected);
      } else {
        assert.equal(request.subarray(0, 8).toString(), 'cid12345');
        const spoofed = header(1, tid, 20);
        spoofed.writeUInt32BE(666, 8);
        impostor(spoofed);
        const stale = header(1, tid + 1, 20);
        stale.writeUInt32BE(777, 8);
        reply(stale);
        const good = header(1, tid, 26);
        good.writeUInt32BE(4321, 8);
        good.writeUInt32BE(5, 12);
        good.writeUInt32BE(6, 16);
        Buffer.from([192, 0, 2, 1, 0x1a, 0xe1]).copy(good, 20);
        reply(good);
      }
    });
    try {
      const { code, out } = await queryJson(['-t', `udp://127.0.0.1:${tracker.port}`]);
      assert.equal(code, 0, out.error ?? '');
      assert.deepEqual([out.interval, out.leechers, out.seeds], [4321, 5, 6]);
      assert.deepEqual(endpoints(out), ['192.0.2.1:6881/ipv4']);
    } finally {
      tracker.close();
    }
  });

  test('an error packet is the failure reason; a short or inconsistent reply is malformed', async () => {
    const replies = {
      error: (tid: number) => Buffer.concat([header(3, tid, 8), Buffer.from('torrent not registered')]),
      short: (tid: number) => header(1, tid, 8),
      peers: (tid: number) => header(1, tid, 20 + 7),
      scrape: (tid: number) => header(2, tid, 8 + 12),
    };
    const trackers = await Promise.all(
      Object.values(replies).map((make) =>
        udpTracker((request, reply) => {
          const tid = request.readUInt32BE(12);
          reply(request.readUInt32BE(8) === 0 ? Buffer.concat([header(0, tid, 8), Buffer.alloc(8)]) : make(tid));
        }),
      ),
    );
    try {
      const [error, short, peers, scrape] = await Promise.all(
        trackers.map((t, i) =>
          queryJson(
            i === 3
              ? ['-t', `udp://127.0.0.1:${t.port}`, '-s', '-H', hashOf(1), '-H', hashOf(2)]
              : ['-t', `udp://127.0.0.1:${t.port}`],
          ),
        ),
      );
      for (const r of [error, short, peers, scrape]) assert.equal(r.code, 1);
      assert.equal(error.out.failure_reason, 'torrent not registered');
      assert.equal(error.out.error, 'the tracker refused: torrent not registered');
      assert.equal(short.out.error, 'malformed announce reply: 8-byte announce reply');
      assert.equal(peers.out.error, 'malformed announce reply: 7 bytes of peers, not a multiple of 6');
      assert.equal(scrape.out.error, 'malformed reply: 1 scrape entries for 2 hashes');
    } finally {
      for (const t of trackers) t.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// HTTPS (swarmd --https-port) with a CA made here

describe('against swarmd over HTTPS', () => {
  let ca: Ca;
  let cert: Issued;
  let swarmd: Swarmd;
  let httpsPort: number;
  before(async () => {
    ca = await makeCa();
    cert = await issue(ca, 'query');
    const port = await freePort();
    httpsPort = await freePort();
    const args = ['--host', '127.0.0.1', '--host', '::1', '--http-port', `${port}`, '--udp-port', `${port}`];
    args.push('--https-port', `${httpsPort}`, '--cert', cert.chainFile, '--key', cert.keyFile, '--workers', '1');
    args.push('--redirect-http', '--domain', `localhost:${httpsPort}`);
    swarmd = await spawnSwarmd(args, '127.0.0.1', port);
  });
  after(async () => {
    await swarmd?.stop();
    await removeCa(ca);
  });

  test('announce and scrape with --ca; refused without it; -k; http:// redirected to https://', async () => {
    const url = `https://localhost:${httpsPort}/announce`;
    const hash = hashOf(0x91);
    const seeded = await queryJson(['-t', url, '-H', hash, '-L', '0', '--port', '7031', '--ca', ca.certFile]);
    assert.equal(seeded.code, 0, seeded.out.error ?? '');
    assert.deepEqual([seeded.out.tls?.verified, seeded.out.tls?.issuer], [true, 'swarmd test CA']);
    // Before the redirected announce below, which adds a leecher.
    const scraped = await queryJson([
      '-t',
      `https://[::1]:${httpsPort}/announce`,
      '-s',
      '-H',
      hash,
      '--ca',
      ca.certFile,
    ]);
    const [untrusted, untrustedTable, insecure, redirected] = await Promise.all([
      queryJson(['-t', url, '-H', hash]),
      query(['-t', url, '-s', '-H', hash]),
      queryJson(['-t', url, '-s', '-H', hash, '-k']),
      queryJson(['-t', `http://127.0.0.1:${swarmd.port}/announce`, '-H', hash, '--ca', ca.certFile]),
    ]);
    assert.equal(scraped.code, 0, scraped.out.error ?? '');
    assert.deepEqual([torrent(scraped.out, hash).complete, torrent(scraped.out, hash).incomplete], [1, 0]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.out.error ?? '', /^TLS: .*certificate.*--ca FILE/);
    assert.equal(untrustedTable.code, 1);
    assert.match(untrustedTable.stderr, /^swarmd query: TLS: .*certificate/);
    assert.equal(insecure.code, 0, insecure.out.error ?? '');
    assert.equal(insecure.out.tls?.verified, false);
    assert.equal(redirected.code, 0, redirected.out.error ?? '');
    assert.equal(redirected.out.redirects[0].status, 301);
    assert.match(
      redirected.out.redirects[0].location,
      new RegExp(`^https://localhost:${httpsPort}/announce\\?info_hash=`),
    );
    assert.deepEqual([redirected.out.seeds, redirected.out.leechers], [1, 1]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Debian's opentracker (IPv4, whitelist only)

describe('against Debian opentracker', { skip: opentrackerMissing }, () => {
  const [a, b] = [hashOf(0xa1), hashOf(0xb2)];
  let dir: string;
  let tracker: Opentracker;
  before(async () => {
    dir = await makeRunDir('swarmd-query-ot-', {
      'opentracker.conf': 'access.whitelist whitelist.txt\n',
      'whitelist.txt': `${a}\n${b}\n`,
    });
    const port = await freePort();
    const args = [
      '-f',
      path.join(dir, 'opentracker.conf'),
      '-i',
      '127.0.0.1',
      '-p',
      `${port}`,
      '-P',
      `${port}`,
      '-d',
      dir,
    ];
    tracker = await startOpentracker(OPENTRACKER, args, '127.0.0.1', port);
  });
  after(async () => {
    await tracker?.stop();
    await removeRunDir(dir);
  });

  test('announce and scrape over HTTP and UDP', async () => {
    const http = `http://127.0.0.1:${tracker.port}/announce`;
    const udp = `udp://127.0.0.1:${tracker.port}/announce`;
    const seed = await queryJson(['-t', http, '-H', a, '--port', '7041', '-L', '0']);
    assert.equal(seed.code, 0, seed.out.error ?? '');
    const leecher = await queryJson(['-t', udp, '-H', a, '--port', '7042']);
    assert.equal(leecher.code, 0, leecher.out.error ?? '');
    assert.deepEqual([leecher.out.seeds, leecher.out.leechers], [1, 1]);
    // opentracker lists the asking peer too.
    assert.ok(endpoints(leecher.out).includes('127.0.0.1:7041/ipv4'), endpoints(leecher.out).join());
    const viaHttp = await queryJson(['-t', http, '-H', b, '--port', '7043']);
    assert.equal(viaHttp.code, 0, viaHttp.out.error ?? '');
    assert.deepEqual(endpoints(viaHttp.out), ['127.0.0.1:7043/ipv4']);

    for (const url of [http, udp]) {
      const r = await queryJson(['-t', url, '-s', '-H', a, '-H', b]);
      assert.equal(r.code, 0, `${url}: ${r.out.error}`);
      assert.deepEqual([torrent(r.out, a).complete, torrent(r.out, a).incomplete], [1, 1], url);
      assert.deepEqual([torrent(r.out, b).complete, torrent(r.out, b).incomplete], [0, 1], url);
    }
    // A hash not on the whitelist: opentracker's refusal, in each protocol's form.
    const refused = await Promise.all([
      queryJson(['-t', http, '-H', hashOf(0x5e)]),
      queryJson(['-t', udp, '-H', hashOf(0x5e)]),
    ]);
    assert.equal(refused[0].code, 1);
    assert.match(refused[0].out.failure_reason ?? '', /not authorized/);
    assert.equal(refused[1].code, 1);
  });
});
