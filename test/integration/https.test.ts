// HTTPS end to end, with certificates made on the spot: announce and scrape over TLS on IPv4 and IPv6, start-up
// refusals, the pair swapped under load (by file change and by SIGHUP) with no request failed and no peer lost, the
// HTTP→HTTPS redirect, and the bounds on handshakes, silent connections and oversized heads.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decode } from '../../src/protocol/bencode.ts';
import { freePort } from '../helpers/ports.ts';
import {
  announceTarget,
  get,
  openConnection,
  pct,
  REPO_ROOT,
  rawHttp,
  type Swarmd,
  spawnSwarmd,
} from '../helpers/swarmd.ts';
import { type Ca, HttpsConnection, type Issued, issue, makeCa, removeCa } from '../helpers/tls.ts';

const HASH = Buffer.alloc(20, 0xab);

interface Tracker {
  swarmd: Swarmd;
  httpsPort: number;
}

/** swarmd on 127.0.0.1 and ::1: HTTP and UDP on one port, HTTPS on another, one worker unless `extra` says. */
async function startHttps(pair: Issued, extra: string[] = []): Promise<Tracker> {
  const port = await freePort();
  const httpsPort = await freePort();
  const workers = extra.includes('--workers') ? [] : ['--workers', '1'];
  const args = ['--host', '127.0.0.1', '--host', '::1', '--http-port', `${port}`, '--udp-port', `${port}`];
  args.push('--https-port', `${httpsPort}`, '--cert', pair.chainFile, '--key', pair.keyFile, ...workers, ...extra);
  return { swarmd: await spawnSwarmd(args, '127.0.0.1', port), httpsPort };
}

function bdict(body: Buffer): Record<string, unknown> {
  return decode(body) as Record<string, unknown>;
}

/** The files entry of a scrape reply for HASH. */
function scraped(body: Buffer): { complete: number; incomplete: number } {
  const files = bdict(body).files as Map<string, unknown> | Record<string, unknown>;
  const entry = files instanceof Map ? files.get(HASH.toString('latin1')) : Object.values(files)[0];
  return entry as { complete: number; incomplete: number };
}

/** Waits until `output()` contains `text`. */
async function waitForLog(swarmd: Swarmd, text: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!swarmd.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no '${text}' in the log:\n${swarmd.output()}`);
    await sleep(50);
  }
}

/** Runs `node src/main.ts ARGS` to its exit; its code and standard error. */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'src/main.ts'), ...args], { stdio: 'pipe' });
    let stderr = '';
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    proc.on('exit', (code) => resolve({ code, stderr }));
  });
}

let ca: Ca;
let a: Issued;
let b: Issued;
let c: Issued;
before(async () => {
  ca = await makeCa();
  [a, b, c] = await Promise.all([issue(ca, 'a'), issue(ca, 'b'), issue(ca, 'c')]);
});
after(() => removeCa(ca));

describe('HTTPS announce and scrape', () => {
  let t: Tracker;
  before(async () => {
    t = await startHttps(a);
  });
  after(() => t.swarmd.stop());

  for (const host of ['127.0.0.1', '::1']) {
    test(`over ${host}: announce and scrape over TLS 1.2 and 1.3; a peer over HTTPS is a peer to plain HTTP`, async () => {
      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const conn = await HttpsConnection.open(host, t.httpsPort, ca.certFile, {
          minVersion: version,
          maxVersion: version,
        });
        assert.equal(conn.socket.getProtocol(), version);
        const port = version === 'TLSv1.2' ? 7001 : 7002;
        const reply = await conn.get(announceTarget({ hash: HASH, port, left: 0 }));
        assert.equal(reply.status, 200);
        assert.ok('complete' in bdict(reply.body), reply.body.toString('latin1'));
        conn.close();
      }
      // Both announces above are in the swarm that plain HTTP serves.
      const plain = await get({ host, port: t.swarmd.port }, `/scrape?info_hash=${pct(HASH)}`);
      assert.ok(scraped(plain.body).complete >= 2);
      const conn = await HttpsConnection.open(host, t.httpsPort, ca.certFile);
      const secure = await conn.get(`/scrape?info_hash=${pct(HASH)}`);
      assert.deepEqual(scraped(secure.body), scraped(plain.body));
      conn.close();
    });
  }

  test('TLS 1.1 is refused', async () => {
    await assert.rejects(
      HttpsConnection.open('127.0.0.1', t.httpsPort, ca.certFile, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
    );
  });
});

describe('HTTPS start-up refusals: one line, non-zero exit', () => {
  const base = (port: number) => ['--host', '127.0.0.1', '--http-port', `${port}`, '--udp-port', `${port}`];
  const cases: { name: string; args: (port: number) => string[]; code: number; says: RegExp }[] = [
    {
      name: 'a missing certificate file',
      args: (p) => [...base(p), '--https-port', `${p + 1}`, '--cert', '/nonexistent/fullchain.pem', '--key', a.keyFile],
      code: 1,
      says: /cannot read the certificate file \/nonexistent\/fullchain.pem: ENOENT/,
    },
    {
      name: 'a key that does not match the certificate',
      args: (p) => [...base(p), '--https-port', `${p + 1}`, '--cert', a.chainFile, '--key', b.keyFile],
      code: 1,
      says: /the key in .*b\.key does not match the certificate in .*a\.pem/,
    },
    {
      name: 'a certificate file without a certificate',
      args: (p) => [...base(p), '--https-port', `${p + 1}`, '--cert', a.keyFile, '--key', a.keyFile],
      code: 1,
      says: /holds no PEM certificate/,
    },
    {
      name: '--https-port without --cert and --key',
      args: (p) => [...base(p), '--https-port', `${p + 1}`],
      code: 2,
      says: /--https-port needs --cert and --key/,
    },
    {
      name: '--redirect-http without HTTPS',
      args: (p) => [...base(p), '--redirect-http', '--domain', 'tracker.example'],
      code: 2,
      says: /--redirect-http needs HTTPS/,
    },
    {
      name: '--redirect-http without --domain',
      args: (p) => [
        ...base(p),
        '--https-port',
        `${p + 1}`,
        '--cert',
        a.chainFile,
        '--key',
        a.keyFile,
        '--redirect-http',
      ],
      code: 2,
      says: /--redirect-http needs --domain/,
    },
  ];
  for (const { name, args, code, says } of cases) {
    test(name, async () => {
      const result = await runToExit(args(await freePort()));
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, says);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    });
  }
});

/** Fresh connections, one after another, until `stop()`; every one announces. Counts failures and fingerprints. */
function announceLoop(host: string, port: number, caFile: string) {
  let running = true;
  let failures = 0;
  let announces = 0;
  const ports = new Set<number>();
  const fingerprints: string[] = [];
  const done = (async () => {
    for (let i = 0; running; i++) {
      try {
        const conn = await HttpsConnection.open(host, port, caFile);
        const peerPort = 20000 + (i % 2000);
        const reply = await conn.get(announceTarget({ hash: HASH, port: peerPort }));
        conn.close();
        if (reply.status !== 200 || !('interval' in bdict(reply.body))) failures++;
        else {
          announces++;
          ports.add(peerPort);
          fingerprints.push(conn.fingerprint);
        }
      } catch {
        failures++;
      }
    }
  })();
  return {
    stats: () => ({ failures, announces, ports: ports.size, last: fingerprints.at(-1) }),
    stop: async () => {
      running = false;
      await done;
      return { failures, announces, peers: ports.size, fingerprints };
    },
  };
}

/** Waits until new connections are served `fingerprint`. */
async function waitForFingerprint(host: string, port: number, fingerprint: string): Promise<void> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const conn = await HttpsConnection.open(host, port, ca.certFile);
    conn.close();
    if (conn.fingerprint === fingerprint) return;
    if (Date.now() > deadline) throw new Error(`still served ${conn.fingerprint}, not ${fingerprint}`);
    await sleep(50);
  }
}

async function fingerprintOf(pair: Issued): Promise<string> {
  const { X509Certificate } = await import('node:crypto');
  const { readFile } = await import('node:fs/promises');
  return new X509Certificate(await readFile(pair.chainFile)).fingerprint256;
}

/** Puts `pair` at `live`'s fullchain.pem and privkey.pem the way ACME clients do: write aside, then rename over. */
async function install(pair: Issued, live: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  await writeFile(path.join(live, '.fullchain.new'), await readFile(pair.chainFile));
  await writeFile(path.join(live, '.privkey.new'), await readFile(pair.keyFile), { mode: 0o600 });
  await rename(path.join(live, '.fullchain.new'), path.join(live, 'fullchain.pem'));
  await rename(path.join(live, '.privkey.new'), path.join(live, 'privkey.pem'));
}

describe('certificate renewal without a restart', () => {
  test('two workers: swapped files are served to new connections, open ones go on, no request fails, no peer is lost; a bad pair is refused', async () => {
    const live = path.join(ca.dir, 'live');
    await mkdir(live);
    await install(a, live);
    const pair = { chainFile: path.join(live, 'fullchain.pem'), keyFile: path.join(live, 'privkey.pem') };
    const t = await startHttps(pair, ['--workers', '2']);
    try {
      const kept = await HttpsConnection.open('127.0.0.1', t.httpsPort, ca.certFile);
      assert.equal(kept.fingerprint, await fingerprintOf(a));
      const load = announceLoop('127.0.0.1', t.httpsPort, ca.certFile);
      await sleep(300);

      await install(b, live);
      await waitForFingerprint('127.0.0.1', t.httpsPort, await fingerprintOf(b));
      await waitForLog(t.swarmd, 'TLS certificate reloaded');
      // The connection opened before the swap still works, on the old certificate.
      const before = await kept.get(`/scrape?info_hash=${pct(HASH)}`);
      assert.equal(before.status, 200);

      // A chain with the wrong key: refused, and b stays in force.
      const { readFile } = await import('node:fs/promises');
      await writeFile(path.join(live, 'fullchain.pem'), await readFile(c.chainFile));
      await waitForLog(t.swarmd, 'new TLS certificate refused');
      await sleep(300);
      const result = await load.stop();
      for (let k = 0; k < 10; k++) {
        const conn = await HttpsConnection.open(k % 2 ? '127.0.0.1' : '::1', t.httpsPort, ca.certFile);
        assert.equal(conn.fingerprint, await fingerprintOf(b), 'every worker serves the new pair');
        conn.close();
      }

      assert.equal(result.failures, 0, `${result.failures} of ${result.announces} announces failed`);
      assert.ok(result.announces > 20, `only ${result.announces} announces ran`);
      assert.ok(new Set(result.fingerprints).size === 2, 'the load saw both certificates');
      const swarm = scraped((await kept.get(`/scrape?info_hash=${pct(HASH)}`)).body);
      assert.equal(swarm.incomplete, result.peers, 'every peer announced over the swap is in the swarm');
      kept.close();
    } finally {
      await t.swarmd.stop();
    }
  });

  test('SIGHUP reloads a pair the file watch cannot see (a directory symlink switched, as certbot-style layouts do)', async () => {
    const dir = path.join(ca.dir, 'sighup');
    await mkdir(path.join(dir, 'v1'), { recursive: true });
    await mkdir(path.join(dir, 'v2'));
    await install(a, path.join(dir, 'v1'));
    await install(b, path.join(dir, 'v2'));
    await symlink('v1', path.join(dir, 'live'));
    const live = path.join(dir, 'live');
    const t = await startHttps({
      chainFile: path.join(live, 'fullchain.pem'),
      keyFile: path.join(live, 'privkey.pem'),
    });
    try {
      await symlink('v2', path.join(dir, 'live.new'));
      await rename(path.join(dir, 'live.new'), live);
      t.swarmd.proc.kill('SIGHUP');
      await waitForFingerprint('::1', t.httpsPort, await fingerprintOf(b));
      // The new pair is served before its log line is written.
      await waitForLog(t.swarmd, 'TLS certificate reloaded');
      assert.match(t.swarmd.output(), /"why":"SIGHUP".*"msg":"TLS certificate reloaded"/);
    } finally {
      await t.swarmd.stop();
    }
  });
});

describe('HTTP→HTTPS redirect', () => {
  const cases = [
    { name: 'HTTPS on 443 (a domain without a port)', domain: 'tracker.example', warns: true },
    { name: 'HTTPS on 8443 (the domain carries it)', domain: 'tracker.example:8443', warns: false },
  ];
  for (const { name, domain, warns } of cases) {
    test(`${name}: 301 to https://${domain} with the same path and query`, async () => {
      const t = await startHttps(a, ['--redirect-http', '--domain', domain]);
      try {
        const target = `${announceTarget({ hash: HASH, port: 6881 })}&passkey=x%2Fy`;
        const reply = await get(t.swarmd, target);
        assert.equal(reply.status, 301);
        assert.equal(reply.headers.location, `https://${domain}${target}`);
        const scrape = await get({ host: '::1', port: t.swarmd.port }, `/scrape?info_hash=${pct(HASH)}`);
        assert.equal(scrape.headers.location, `https://${domain}/scrape?info_hash=${pct(HASH)}`);
        const [head] = await rawHttp('127.0.0.1', t.swarmd.port, 'HEAD /stats HTTP/1.1\r\nHost: t\r\n\r\n');
        assert.equal(head.status, 301);
        assert.equal(head.headers['content-length'], '0');
        const [post] = await rawHttp('127.0.0.1', t.swarmd.port, 'POST /announce HTTP/1.1\r\nHost: t\r\n\r\n');
        assert.equal(post.status, 405);
        // Nothing was announced through the redirect; HTTPS serves as usual.
        const conn = await HttpsConnection.open('127.0.0.1', t.httpsPort, ca.certFile);
        assert.equal((await conn.get(announceTarget({ hash: HASH, port: 6881 }))).status, 200);
        conn.close();
        assert.equal(/has no port but HTTPS listens on/.test(t.swarmd.output()), warns, t.swarmd.output());
      } finally {
        await t.swarmd.stop();
      }
    });
  }
});

/** Resolves with how long the server took to close `socket`, or rejects after `limitMs`. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

describe('bounds: stalled handshakes, silent connections and huge heads are cut off while others are served', () => {
  let t: Tracker;
  before(async () => {
    t = await startHttps(a, ['--header-timeout', '1', '--handshake-timeout', '1']);
  });
  after(() => t.swarmd.stop());

  test('TLS handshakes that never finish, and connections that never send, close within the bounds', async () => {
    const stalled: net.Socket[] = [];
    for (let i = 0; i < 20; i++) {
      // Nothing at all on the HTTPS port, half a ClientHello record, nothing on the plain port.
      const tlsSilent = await openConnection('127.0.0.1', t.httpsPort);
      const tlsPartial = await openConnection('::1', t.httpsPort);
      tlsPartial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      const plainSilent = await openConnection(i % 2 ? '::1' : '127.0.0.1', t.swarmd.port);
      stalled.push(tlsSilent, tlsPartial, plainSilent);
    }
    // A client that finishes its handshake and then sends nothing.
    const quiet = await HttpsConnection.open('127.0.0.1', t.httpsPort, ca.certFile);
    // Plain HTTP connections reach swarmd only after TCP_DEFER_ACCEPT's second (the native path), then the bound runs.
    const closes = [...stalled, quiet.socket].map((s) => closedWithin(s, 7000));

    // Meanwhile honest clients are answered at once.
    const conn = await HttpsConnection.open('127.0.0.1', t.httpsPort, ca.certFile);
    assert.equal((await conn.get(announceTarget({ hash: HASH, port: 7100 }))).status, 200);
    conn.close();
    assert.equal((await get(t.swarmd, announceTarget({ hash: HASH, port: 7101 }))).status, 200);

    const times = await Promise.all(closes);
    assert.ok(Math.min(...times) >= 500, `closed too early: ${Math.min(...times)} ms`);
  });

  test('a 100 KB request head gets 431 and the connection closes, over HTTP and HTTPS', async () => {
    const huge = `GET /announce?info_hash=${pct(HASH)} HTTP/1.1\r\nHost: t\r\nX-Pad: ${'a'.repeat(100_000)}\r\n\r\n`;
    const [plain] = await rawHttp('127.0.0.1', t.swarmd.port, huge);
    assert.equal(plain.status, 431);

    const conn = await HttpsConnection.open('::1', t.httpsPort, ca.certFile);
    const closed = closedWithin(conn.socket, 4000);
    assert.equal((await conn.request(huge)).status, 431);
    await closed;

    assert.equal((await get(t.swarmd, announceTarget({ hash: HASH, port: 7102 }))).status, 200);
  });
});
