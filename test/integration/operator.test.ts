// The operator's side of swarmd, over real sockets and real files: access lists reloaded on SIGHUP and on change
// (under load), client addresses from proxies and ip=, /stats access, redirect, saved state across kill -9 and
// SIGTERM, statedumps, privilege drop.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { decode } from '../../src/protocol/bencode.ts';
import { freePort } from '../helpers/ports.ts';
import {
  announceTarget,
  compactPeers,
  get,
  REPO_ROOT,
  type Swarmd,
  spawnSwarmd,
  startSwarmd,
  UdpClient,
} from '../helpers/swarmd.ts';

const HOST = '127.0.0.1';
const hashOf = (n: number) => Buffer.alloc(20, n);
const hex = (n: number) => hashOf(n).toString('hex');

function runDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarmd-operator-'));
  chmodSync(dir, 0o755);
  return dir;
}

async function announce(s: Swarmd, hash: Buffer, port: number, extra = '', headers = '', left = 1000) {
  const res = await get(s, announceTarget({ hash, port, left, extra }), headers);
  assert.equal(res.status, 200);
  return decode(res.body) as Record<string, unknown>;
}

const refused = (reply: Record<string, unknown>) =>
  Buffer.from((reply['failure reason'] as Uint8Array) ?? []).toString() ===
  'Requested download is not authorized for use with this tracker.';

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('access lists', () => {
  test('a whitelist refuses other hashes over HTTP and UDP, and scrapes leave them out', async () => {
    const dir = runDir();
    writeFileSync(path.join(dir, 'white.txt'), `# allowed\n${hex(1)} first torrent\n`);
    const s = await startSwarmd([HOST], ['-w', path.join(dir, 'white.txt')]);
    try {
      assert.ok(!refused(await announce(s, hashOf(1), 6001)));
      assert.ok(refused(await announce(s, hashOf(2), 6001)));
      const both = await get(s, `/scrape?info_hash=${'%01'.repeat(20)}&info_hash=${'%02'.repeat(20)}`);
      const files = (decode(both.body) as { files: Record<string, unknown> }).files;
      assert.deepEqual(Object.keys(files), [hashOf(1).toString('latin1')]);

      const udp = new UdpClient(HOST, s.port);
      try {
        const id = await udp.connect();
        const reply = await udp.request(udp.announceMessage(id, { hash: hashOf(2), port: 6002 }));
        assert.ok(reply !== null);
        assert.equal(reply.readUInt32BE(0), 3, 'an error packet');
        assert.equal(reply.subarray(8).toString(), 'Requested download is not authorized for use with this tracker.');
        const ok = await udp.request(udp.announceMessage(id, { hash: hashOf(1), port: 6002 }));
        assert.equal(ok?.readUInt32BE(0), 1);
      } finally {
        udp.close();
      }
    } finally {
      await s.stop();
    }
  });

  test('SIGHUP and file changes reload the list under load, with no moment where neither list holds', async () => {
    const dir = runDir();
    const list = path.join(dir, 'white.txt');
    writeFileSync(list, `${hex(1)}\n`);
    const s = await startSwarmd([HOST], ['-w', list]);
    let refusedKept = 0;
    let load = true;
    // Hash 1 is in every version of the list: it must never be refused while the list changes under it.
    const loader = (async () => {
      let n = 0;
      while (load) if (refused(await announce(s, hashOf(1), 7000 + (n++ % 50)))) refusedKept++;
      return n;
    })();
    try {
      assert.ok(refused(await announce(s, hashOf(2), 6001)));
      writeFileSync(list, `${hex(1)}\n${hex(2)}\n`);
      s.proc.kill('SIGHUP');
      await until('hash 2 is allowed', async () => !refused(await announce(s, hashOf(2), 6001)));

      // Replaced by rename (as editors and config managers do), seen without a signal.
      writeFileSync(`${list}.new`, `${hex(1)}\n${hex(3)}\n`);
      renameSync(`${list}.new`, list);
      await until('hash 3 is allowed', async () => !refused(await announce(s, hashOf(3), 6001)));
      assert.ok(refused(await announce(s, hashOf(2), 6001)), 'hash 2 left the list');

      // Half-written: the previous list stays in force and the problem is named.
      writeFileSync(list, `${hex(1)}\n${hex(4).slice(0, 25)}`);
      s.proc.kill('SIGHUP');
      await until('the bad line is reported', async () => /white\.txt/.test(s.output()) && /"line":2/.test(s.output()));
      assert.ok(!refused(await announce(s, hashOf(3), 6001)), 'the last good list still holds');
      writeFileSync(list, `${hex(1)}\n${hex(4)}\n`);
      await until('the finished file is loaded', async () => !refused(await announce(s, hashOf(4), 6001)));

      // Unreadable: the last good list holds.
      chmodSync(list, 0);
      s.proc.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      if (process.getuid?.() !== 0) assert.ok(!refused(await announce(s, hashOf(4), 6001)));
    } finally {
      load = false;
      const requests = await loader;
      await s.stop();
      assert.equal(refusedKept, 0, 'hash 1 was refused while lists were reloaded');
      assert.ok(requests > 50, `the load kept going (${requests} announces)`);
    }
  });

  test('access FIFOs add and remove hashes until SIGHUP, with two workers', async () => {
    const dir = runDir();
    writeFileSync(path.join(dir, 'white.txt'), `${hex(1)}\n`);
    execFileSync('mkfifo', [path.join(dir, 'add'), path.join(dir, 'delete')]);
    const conf = path.join(dir, 'opentracker.conf');
    writeFileSync(conf, 'access.whitelist white.txt\naccess.fifo_add add\naccess.fifo_delete delete\n');
    const port = await freePort();
    const s = await spawnSwarmd(['-f', conf, '-d', dir, '-i', HOST, '-p', `${port}`, '--workers', '2'], HOST, port);
    try {
      assert.ok(refused(await announce(s, hashOf(2), 6001)));
      writeFileSync(path.join(dir, 'add'), `${hex(2)}\n`);
      writeFileSync(path.join(dir, 'delete'), `${hex(1)}\n`);
      // Every worker has the change: several announces, over fresh connections spread across the workers.
      await until('hash 2 is allowed and hash 1 refused everywhere', async () => {
        for (let k = 0; k < 6; k++) {
          if (refused(await announce(s, hashOf(2), 6001 + k)) || !refused(await announce(s, hashOf(1), 6001 + k))) {
            return false;
          }
        }
        return true;
      });
      s.proc.kill('SIGHUP');
      await until('SIGHUP cleared the changesets', async () => {
        for (let k = 0; k < 6; k++) {
          if (!refused(await announce(s, hashOf(2), 6001 + k)) || refused(await announce(s, hashOf(1), 6001 + k))) {
            return false;
          }
        }
        return true;
      });
    } finally {
      await s.stop();
    }
  });

  test('--allowed-dir serves the torrents whose .torrent files are in it', async () => {
    const dir = runDir();
    const bencode = (await import('bencode')).default;
    const info = { length: 1, name: 'a', 'piece length': 16384, pieces: Buffer.alloc(20, 7) };
    writeFileSync(path.join(dir, 'a.torrent'), bencode.encode({ announce: 'http://x/announce', info }));
    const hash = Buffer.from(
      execFileSync('sha1sum', { input: bencode.encode(info) })
        .toString()
        .slice(0, 40),
      'hex',
    );
    const s = await startSwarmd([HOST], ['--allowed-dir', dir, '--parse-dir-interval', '1']);
    try {
      assert.ok(!refused(await announce(s, hash, 6001)));
      assert.ok(refused(await announce(s, hashOf(9), 6001)));
      const other = { ...info, name: 'b' };
      writeFileSync(path.join(dir, 'b.torrent'), bencode.encode({ info: other }));
      const hashB = Buffer.from(
        execFileSync('sha1sum', { input: bencode.encode(other) })
          .toString()
          .slice(0, 40),
        'hex',
      );
      await until('the new torrent is allowed', async () => !refused(await announce(s, hashB, 6001)));
    } finally {
      await s.stop();
    }
  });
});

describe('client address', () => {
  /** The peers another client is given: who the tracker thinks announced. */
  async function seen(s: Swarmd, hash: Buffer): Promise<string[]> {
    const reply = await announce(s, hash, 6999);
    return compactPeers(reply.peers as Uint8Array, 6);
  }

  test('proxy headers only from a trusted proxy; ip= only with --ip-from-query', async () => {
    const trusting = await startSwarmd([HOST], ['--trusted-proxy', '127.0.0.0/8', '--ip-from-query']);
    const plain = await startSwarmd([HOST]);
    try {
      await announce(trusting, hashOf(1), 6001, '', 'X-Forwarded-For: 6.6.6.6, 192.0.2.7\r\n');
      assert.deepEqual(await seen(trusting, hashOf(1)), ['192.0.2.7:6001']);
      await announce(trusting, hashOf(2), 6001, '&ip=198.51.100.1');
      assert.deepEqual(await seen(trusting, hashOf(2)), ['198.51.100.1:6001']);
      const bad = await announce(trusting, hashOf(2), 6002, '&ip=not-an-address');
      assert.match(Buffer.from(bad['failure reason'] as Uint8Array).toString(), /invalid ip/);

      await announce(plain, hashOf(1), 6001, '&ip=198.51.100.1', 'X-Forwarded-For: 192.0.2.7\r\n');
      assert.deepEqual(await seen(plain, hashOf(1)), ['127.0.0.1:6001']);
    } finally {
      await Promise.all([trusting.stop(), plain.stop()]);
    }
  });
});

describe('stats, metrics and redirect', () => {
  test('/stats and /metrics: loopback by default, configured networks otherwise; -r redirects /', async () => {
    const open = await startSwarmd([HOST], ['-r', 'https://example.com/tracker', '--stats-path', 'ot-stats']);
    const closed = await startSwarmd([HOST], ['--stats-allow', '10.0.0.0/8']);
    try {
      await announce(open, hashOf(1), 6001, '', '', 0);
      const torr = await get(open, '/ot-stats?mode=torr');
      assert.equal(torr.status, 200);
      assert.equal(torr.body.toString().split('\n')[0], '1');
      assert.equal((await get(open, '/stats?mode=torr')).status, 404, 'the path moved');
      const metrics = await get(open, '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.body.toString(), /^swarmd_torrents 1$/m);
      const root = await get(open, '/');
      assert.equal(root.status, 302);
      assert.equal(root.headers.location, 'https://example.com/tracker');

      assert.equal((await get(closed, '/stats?mode=torr')).status, 403);
      assert.equal((await get(closed, '/metrics')).status, 403);
      assert.equal((await get(closed, '/')).status, 404);
    } finally {
      await Promise.all([open.stop(), closed.stop()]);
    }
  });
});

describe('saved state', () => {
  async function scrapeOf(s: Swarmd, n: number) {
    const res = await get(s, `/scrape?info_hash=${`%${n.toString(16).padStart(2, '0')}`.repeat(20)}`);
    const files = (decode(res.body) as { files: Record<string, Record<string, number>> }).files;
    return { ...files[hashOf(n).toString('latin1')] };
  }

  test('a kill -9 loses at most one interval; SIGTERM writes the state and exits 0', async () => {
    const dir = runDir();
    const state = path.join(dir, 'swarmd.state');
    const port = await freePort();
    const args = ['--http-port', `${port}`, '--udp-port', '0', '--host', HOST, '--workers', '1'];
    const withState = [...args, '--state-file', state, '--state-interval', '1'];
    const started: Swarmd[] = [];
    const start = async () => {
      const s = await spawnSwarmd(withState, HOST, port);
      started.push(s);
      return s;
    };
    try {
      let s = await start();
      await announce(s, hashOf(1), 6001, '&event=completed', '', 0);
      await announce(s, hashOf(1), 6002);
      const written = () => {
        try {
          return statSync(state).mtimeMs;
        } catch {
          return 0;
        }
      };
      const after = Date.now();
      await until('the state file is written after both announces', async () => written() > after, 5000);
      s.proc.kill('SIGKILL');
      await new Promise((r) => s.proc.once('exit', r));

      s = await start();
      const one = { complete: 1, downloaded: 1, downloaders: 1, incomplete: 1 };
      assert.deepEqual(await scrapeOf(s, 1), one);
      await announce(s, hashOf(2), 6003, '', '', 0);
      const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => r(code)));
      s.proc.kill('SIGTERM');
      assert.equal(await exited, 0);

      s = await start();
      const two = { complete: 1, downloaded: 0, downloaders: 0, incomplete: 0 };
      assert.deepEqual(await scrapeOf(s, 2), two, 'written at exit');
      assert.deepEqual(await scrapeOf(s, 1), one);
    } finally {
      await Promise.all(started.map((s) => s.stop()));
    }
  });

  test('-l loads an opentracker statedump after the whitelist is in force; bad lines are named', async () => {
    const dir = runDir();
    writeFileSync(path.join(dir, 'white.txt'), `${hex(1)}\n${hex(2)}\n`);
    const minutes = Math.floor(Date.now() / 60000);
    writeFileSync(
      path.join(dir, 'dump'),
      `${hex(1).toUpperCase()}:${minutes}:5\n${hex(3).toUpperCase()}:${minutes}:7\nnot a line\n${hex(2)}:${minutes}:2\n`,
    );
    const s = await startSwarmd([HOST], ['-d', dir, '-w', 'white.txt', '-l', 'dump']);
    try {
      const dump = (await get(s, '/stats?mode=statedump')).body.toString();
      assert.deepEqual(
        dump
          .trim()
          .split('\n')
          .map((l) => l.replace(/:\d+:/, ':T:'))
          .sort(),
        [`${hex(1).toUpperCase()}:T:5`, `${hex(2).toUpperCase()}:T:2`],
      );
      assert.match(s.output(), /"line":3/);
    } finally {
      await s.stop();
    }
  });
});

describe('listeners', () => {
  test('-i, -p and -P listen on several addresses and ports at once, with two workers', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const args = ['-i', HOST, '-p', `${a}`, '-p', `${b}`, '-P', `${c}`, '-i', '::1', '-p', `${a}`, '--workers', '2'];
    const s = await spawnSwarmd(args, HOST, a);
    try {
      await announce(s, hashOf(1), 6001);
      const viaB = await announce({ ...s, port: b } as Swarmd, hashOf(1), 6002);
      assert.equal(viaB.incomplete, 2, 'both HTTP ports serve one swarm');
      const v6 = await get({ host: '::1', port: a }, announceTarget({ hash: hashOf(1), port: 6003 }));
      assert.equal((decode(v6.body) as Record<string, number>).incomplete, 3, 'and so does [::1]');
      const udp = new UdpClient(HOST, c);
      try {
        const id = await udp.connect();
        const reply = await udp.request(udp.announceMessage(id, { hash: hashOf(1), port: 6004 }));
        assert.equal(reply?.readUInt32BE(12), 4, 'UDP on its own port, same swarm');
      } finally {
        udp.close();
      }
      assert.equal(
        (await get({ host: HOST, port: c }, '/stats').catch(() => null)) === null,
        true,
        'no HTTP on the UDP port',
      );
    } finally {
      await s.stop();
    }
  });
});

describe('process', () => {
  const swarmd = (args: string[]) =>
    spawnSync(process.execPath, [path.join(REPO_ROOT, 'src/main.ts'), ...args], { encoding: 'utf8', timeout: 10_000 });

  test('-v prints the version; -d to a missing directory and -u to an unknown user fail with one line', async () => {
    const version = swarmd(['-v']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^swarmd \d+\.\d+\.\d+\n$/);
    const port = await freePort();
    const listen = ['-i', HOST, '-p', `${port}`, '-P', `${port}`, '--workers', '1'];
    const noDir = swarmd([...listen, '-d', '/nonexistent/swarmd']);
    assert.equal(noDir.status, 1);
    assert.match(noDir.stderr, /^swarmd: cannot change to directory \/nonexistent\/swarmd: ENOENT\n$/);
    if (process.getuid?.() === 0) {
      const noUser = swarmd([...listen, '-u', 'no-such-user-swarmd']);
      assert.equal(noUser.status, 1);
      assert.match(noUser.stderr, /^swarmd: no such user: no-such-user-swarmd\n$/);
      const rootUser = swarmd([...listen, '-u', 'root']);
      assert.equal(rootUser.status, 1);
      assert.match(rootUser.stderr, /refusing to keep running as root/);
    }
  });

  test('as root, -u drops to the user after binding a privileged port, with the workers', {
    skip: process.getuid?.() !== 0,
  }, async () => {
    const dir = runDir();
    // A port below 1024 needs root to bind; serving it afterwards proves the order: bind, then drop.
    const port = 1000 + Math.floor(Math.random() * 20);
    const s = await spawnSwarmd(
      ['-i', HOST, '-p', `${port}`, '-P', `${port}`, '-d', dir, '-u', 'nobody', '--workers', '2'],
      HOST,
      port,
    );
    try {
      const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString());
      // Every thread (the workers, libuv's pool) changed user, not only the main one.
      const tasks = readdirSync(`/proc/${s.proc.pid}/task`);
      assert.ok(tasks.length > 3, `${tasks.length} threads`);
      for (const task of tasks) {
        const status = readFileSync(`/proc/${s.proc.pid}/task/${task}/status`, 'utf8');
        const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
        assert.deepEqual(uids, [nobody, nobody, nobody, nobody], `thread ${task}: real, effective, saved, fs uid`);
      }
      assert.equal(readlinkSync(`/proc/${s.proc.pid}/cwd`), dir);
      assert.ok(!refused(await announce(s, hashOf(1), 6001)));
    } finally {
      await s.stop();
    }
  });
});
