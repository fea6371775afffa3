// `--workers 2`: both worker threads answer (SO_REUSEPORT spreads the clients), and a change made at one is seen at
// the other within a second (replicated deltas, see src/tracker/replication.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { decode } from '../../src/protocol/bencode.ts';
import { announceTarget, get, pct, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

/**
 * CPU ticks (user + system) of each thread of process `pid` that may be a worker: Node 24 names worker threads
 * 'WorkerThread'; Node 22 names every thread 'node', so there it is every thread but the main one and libuv's pool.
 */
function workerThreadTicks(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  const threads = readdirSync(`/proc/${pid}/task`).map((tid) => ({
    tid,
    comm: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim(),
  }));
  const named = threads.some((t) => t.comm === 'WorkerThread');
  for (const { tid, comm } of threads) {
    if (named ? comm !== 'WorkerThread' : tid === String(pid) || comm !== 'node') continue;
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').split(') ')[1].split(' ');
    ticks.set(tid, Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

/** complete and incomplete of `hash` as one fresh connection's scrape sees them. */
async function scrapeCounts(s: Swarmd, hash: Buffer): Promise<[number, number]> {
  const d = decode((await get(s, `/scrape?info_hash=${pct(hash)}`)).body) as Record<string, unknown>;
  const entry = (d.files as Record<string, Record<string, number>>)[hash.toString('latin1')];
  return [entry.complete, entry.incomplete];
}

for (const host of ['127.0.0.1', '::1']) {
  describe(`two workers over ${host.includes(':') ? 'IPv6' : 'IPv4'}`, () => {
    let s: Swarmd;
    before(async () => {
      s = await startSwarmd([host], ['--workers', '2']);
    });
    after(() => s.stop());

    test('both worker threads answer UDP clients', async () => {
      const pid = s.proc.pid as number;
      const start = workerThreadTicks(pid);
      // 32 client sockets (32 source ports, which the kernel hashes to pick a worker), 300 announces each.
      const clients = Array.from({ length: 32 }, () => new UdpClient(host, s.port));
      const hash = randomBytes(20);
      await Promise.all(
        clients.map(async (c, i) => {
          const id = await c.connect();
          for (let k = 0; k < 300; k++) {
            const reply = await c.request(c.announceMessage(id, { hash, port: 10_000 + i, numwant: 50 }));
            assert.ok(reply !== null && reply.readUInt32BE(0) === 1, 'announce answered');
          }
        }),
      );
      for (const c of clients) c.close();
      const used = [...workerThreadTicks(pid)].map(([tid, ticks]) => ticks - (start.get(tid) ?? 0));
      const total = used.reduce((a, b) => a + b, 0);
      const busy = used.filter((ticks) => ticks >= total / 5);
      assert.equal(busy.length, 2, `two threads share the work (CPU ticks per thread: ${used.join(', ')})`);
    });

    test('a request sees every change answered before it, whichever worker each one reached', async () => {
      const hash = randomBytes(20);
      // One connection per announce: the kernel spreads the connections over the workers.
      for (let i = 0; i < 40; i++) await get(s, announceTarget({ hash, port: 20_000 + i, left: i % 2 }));
      // No waiting: 16 fresh connections (both workers are asked) must all agree already.
      for (const view of await Promise.all(Array.from({ length: 16 }, () => scrapeCounts(s, hash)))) {
        assert.deepEqual(view, [20, 20], 'complete and incomplete');
      }
      // An announce at one worker gets the peers announced at the other.
      const reply = decode((await get(s, announceTarget({ hash, port: 21_000, numwant: 100 }))).body) as Record<
        string,
        Uint8Array
      >;
      const v6 = host.includes(':');
      assert.equal(reply[v6 ? 'peers6' : 'peers'].length, 40 * (v6 ? 18 : 6));

      // A stop at one worker removes the peer at the other too.
      for (let i = 0; i < 40; i += 2) {
        await get(s, announceTarget({ hash, port: 20_000 + i, left: 0, extra: '&event=stopped' }));
      }
      for (const view of await Promise.all(Array.from({ length: 16 }, () => scrapeCounts(s, hash)))) {
        assert.deepEqual(view, [0, 21]);
      }
    });

    test('a connection id from one worker is good at the other', async () => {
      // Ids are keyed per client address, not per port, so sockets that land on different workers share them.
      const first = new UdpClient(host, s.port);
      const id = await first.connect();
      first.close();
      const hash = randomBytes(20);
      const clients = Array.from({ length: 16 }, () => new UdpClient(host, s.port));
      for (const [i, c] of clients.entries()) {
        const reply = await c.request(c.announceMessage(id, { hash, port: 30_000 + i }));
        assert.ok(reply !== null);
        assert.equal(reply.readUInt32BE(0), 1, `announce ${i} accepted, not an error`);
        c.close();
      }
    });
  });
}

/** Runs swarmd with `args` on 127.0.0.1 to completion (it should fail at start-up). */
function runSwarmd(args: string[]) {
  return spawnSync(process.execPath, ['src/main.ts', '--host', '127.0.0.1', ...args], {
    cwd: new URL('../..', import.meta.url),
    encoding: 'utf8',
    timeout: 10_000,
  });
}

test('--workers 2 on a port in use fails with one line and exit 1', async () => {
  const s = await startSwarmd(['127.0.0.1'], ['--workers', '1']);
  try {
    const r = runSwarmd(['--http-port', `${s.port}`, '--udp-port', '0', '--workers', '2']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^swarmd: address in use: 127\.0\.0\.1:\d+\n$/);
  } finally {
    await s.stop();
  }
});

// SO_REUSEPORT would let a second swarmd of the same user join the ports and take half the clients unnoticed.
for (const [proto, ports] of [
  ['HTTP', (p: number) => ['--http-port', `${p}`, '--udp-port', '0']],
  ['UDP', (p: number) => ['--http-port', '0', '--udp-port', `${p}`]],
] as const) {
  test(`--workers 2 on the ${proto} port of another two-worker swarmd fails instead of sharing it`, async () => {
    const s = await startSwarmd(['127.0.0.1'], ['--workers', '2']);
    try {
      const r = runSwarmd([...ports(s.port), '--workers', '2']);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^swarmd: address in use: 127\.0\.0\.1:\d+\n$/);
    } finally {
      await s.stop();
    }
  });
}
