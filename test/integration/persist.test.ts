// Saved state on real files: opentracker statedumps loaded into a store, and swarmd's own state file written
// atomically, read back, moved aside when corrupt, and saved on a timer.

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { encodeState, readStateFile, restoreState, StateSaver, writeStateFile } from '../../src/persist/state-file.ts';
import { loadStatedump } from '../../src/persist/statedump.ts';
import { FAMILY_V4, SwarmStore } from '../../src/swarm/store.ts';

const WALL_MS = 1_700_000_040_000; // a whole minute
const WALL_MINUTES = WALL_MS / 60_000;
const all = () => true;

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function capture() {
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmd-persist-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function hashOf(n: number): Buffer {
  const h = Buffer.alloc(20, 0xa5);
  h.writeUInt32BE(n, 0);
  return h;
}

const hex = (n: number) => hashOf(n).toString('hex').toUpperCase();

test('a statedump loads its counts and last activity, logs each bad line, and skips refused hashes', async (t) => {
  t.mock.method(Date, 'now', () => WALL_MS);
  const dir = await tempDir(t);
  const file = join(dir, 'dump');
  const text = [
    `${hex(1)}:${WALL_MINUTES - 10}:7`, // active 10 minutes ago
    `${hex(2)}:${WALL_MINUTES + 60}:3`, // in the future: counts as now
    'not a line',
    `${hex(3)}:0:1`, // refused
    `${hex(4)}:${WALL_MINUTES - 5}`,
    '',
  ].join('\n');
  await writeFile(file, text);
  const store = new SwarmStore({ peerTtl: 3600 });
  const clock = { now: 50 };
  const { log, lines } = capture();
  const refused = hashOf(3);
  const result = await loadStatedump(file, store, clock, (h, off) => !refused.equals(h.subarray(off, off + 20)), log);
  assert.deepEqual(result, { loaded: 2, refused: 1, problems: 2 });
  assert.equal(store.torrents, 2);
  const one = store.find(hashOf(1), 0);
  assert.equal(store.downloaded(one), 7);
  assert.equal(store.lastActive(one), 50 - 600);
  assert.equal(store.lastActive(store.find(hashOf(2), 0)), 50);
  assert.equal(store.find(refused, 0), -1);
  assert.equal(store.peers, 0);
  const warned = lines.filter((l) => l.level === 40).map(({ file, line, reason }) => ({ file, line, reason }));
  assert.deepEqual(warned, [
    { file, line: 3, reason: "non-hex character 'n' at column 1 of the info hash" },
    { file, line: 5, reason: 'missing downloaded count' },
  ]);
  assert.ok(lines.some((l) => l.msg === 'statedump loaded' && l.loaded === 2 && l.file === file));
});

test('a gzipped statedump (as opentracker serves it) loads; a broken gzip is a logged problem', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'dump.gz');
  await writeFile(good, gzipSync(`${hex(1)}:29921464:5\n${hex(2)}:29921464:6\n`));
  const store = new SwarmStore({ peerTtl: 3600 });
  const { log, lines } = capture();
  assert.deepEqual(await loadStatedump(good, store, { now: 1 }, all, log), { loaded: 2, refused: 0, problems: 0 });
  assert.equal(store.downloaded(store.find(hashOf(2), 0)), 6);

  const broken = join(dir, 'broken.gz');
  await writeFile(broken, gzipSync('x'.repeat(100)).subarray(0, 20));
  assert.deepEqual(await loadStatedump(broken, store, { now: 1 }, all, log), { loaded: 0, refused: 0, problems: 1 });
  assert.ok(lines.some((l) => l.level === 50 && l.file === broken && String(l.reason).startsWith('cannot inflate it')));
});

test('an unreadable statedump rejects with the file and the reason', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'nope');
  const { log } = capture();
  await assert.rejects(loadStatedump(missing, new SwarmStore({ peerTtl: 60 }), { now: 1 }, all, log), (err: Error) => {
    assert.ok(err.message.startsWith(`${missing}: cannot read the statedump: ENOENT`), err.message);
    return true;
  });
});

test('a store written as opentracker writes a statedump loads back with the same counts and times', async (t) => {
  const dir = await tempDir(t);
  const source = new SwarmStore({ peerTtl: 3600 });
  const now = 1_000_000;
  for (let i = 0; i < 50; i++) source.restoreTorrent(hashOf(i), 0, i * 1000, now - i * 3600, now);
  // opentracker's format: upper-case hex, base in minutes since the epoch.
  const wallNow = Date.now() / 1000;
  let text = '';
  const hash = Buffer.alloc(20);
  for (let tid = 0; tid < source.idLimit; tid++) {
    source.copyHash(tid, hash, 0);
    const base = Math.floor((wallNow - (now - source.lastActive(tid))) / 60);
    text += `${hash.toString('hex').toUpperCase()}:${base}:${source.downloaded(tid)}\n`;
  }
  const file = join(dir, 'dump');
  await writeFile(file, text);
  const loaded = new SwarmStore({ peerTtl: 3600 });
  const { log } = capture();
  assert.deepEqual(await loadStatedump(file, loaded, { now: 7 }, all, log), { loaded: 50, refused: 0, problems: 0 });
  for (let i = 0; i < 50; i++) {
    const tid = loaded.find(hashOf(i), 0);
    assert.equal(loaded.downloaded(tid), i * 1000);
    const age = 7 - loaded.lastActive(tid);
    assert.ok(age >= i * 3600 && age <= i * 3600 + 61, `torrent ${i}: ${age} s`);
  }
});

test('writeStateFile replaces the file whole, owner-only, and leaves no temporary file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'state');
  await writeStateFile(file, Buffer.from('first'));
  await writeStateFile(file, Buffer.from('second'));
  assert.equal(await readFile(file, 'utf8'), 'second');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['state']);
});

test('a failed write leaves the previous file intact and no temporary file', async (t) => {
  const dir = await tempDir(t);

  // The parent is a file.
  const parentFile = join(dir, 'plain');
  await writeFile(parentFile, 'x');
  await assert.rejects(writeStateFile(join(parentFile, 'state'), Buffer.from('new')), (err: Error) => {
    assert.match(err.message, /plain\/state: cannot save state: ENOTDIR/);
    return true;
  });

  // The rename fails: the path is a non-empty directory.
  const blocked = join(dir, 'blocked');
  await mkdir(blocked);
  await writeFile(join(blocked, 'keep'), 'kept');
  await assert.rejects(writeStateFile(blocked, Buffer.from('new')), /blocked: cannot save state: /);
  assert.equal(await readFile(join(blocked, 'keep'), 'utf8'), 'kept');
  assert.deepEqual((await readdir(dir)).sort(), ['blocked', 'plain']);

  // The temporary file's name is taken by a directory.
  const taken = join(dir, 'taken');
  await writeStateFile(taken, Buffer.from('old'));
  await mkdir(`${taken}.tmp-${process.pid}`);
  await assert.rejects(writeStateFile(taken, Buffer.from('new')), /taken: cannot save state: EISDIR/);
  assert.equal(await readFile(taken, 'utf8'), 'old');

  // The directory is read-only (root ignores that, so only as another user).
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    await mkdir(ro);
    const file = join(ro, 'state');
    await writeStateFile(file, Buffer.from('old'));
    await chmod(ro, 0o500);
    try {
      await assert.rejects(writeStateFile(file, Buffer.from('new')), /ro\/state: cannot save state: EACCES/);
      assert.equal(await readFile(file, 'utf8'), 'old');
      assert.deepEqual(await readdir(ro), ['state']);
    } finally {
      await chmod(ro, 0o700);
    }
  }
});

test('readStateFile: a missing file is a first run, a good one decodes, a corrupt one is moved aside', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'state');
  const { log, lines } = capture();

  assert.equal(await readStateFile(file, log), null);
  assert.ok(lines.some((l) => l.level === 30 && l.file === file && l.msg === 'no saved state yet: starting empty'));

  const store = new SwarmStore({ peerTtl: 3600 });
  store.announce(hashOf(1), FAMILY_V4, Buffer.from([10, 0, 0, 1, 0x1a, 0xe1]), true, false, true, 100);
  const bytes = await encodeState(store, { now: 100 });
  await writeStateFile(file, bytes);
  const decoded = await readStateFile(file, log);
  assert.ok(decoded !== null);
  assert.equal(decoded.peers, 1);
  const fresh = new SwarmStore({ peerTtl: 3600 });
  assert.deepEqual(restoreState(decoded, fresh, { now: 1 }, all, 3600), {
    torrents: 1,
    peers: 1,
    refused: 0,
    expired: 0,
  });
  assert.equal(fresh.complete(fresh.find(hashOf(1), 0)), 1);

  const damaged = Buffer.from(bytes);
  damaged[40] ^= 0x10;
  await writeFile(file, damaged);
  assert.equal(await readStateFile(file, log), null);
  const names = await readdir(dir);
  assert.equal(names.length, 1);
  assert.match(names[0], /^state\.corrupt-\d{8}T\d{6}\.\d{3}Z$/);
  assert.deepEqual(await readFile(join(dir, names[0])), damaged, 'kept for the operator');
  const error = lines.find((l) => l.level === 50);
  assert.equal(error?.file, file);
  assert.match(String(error?.reason), /^CRC mismatch/);
  assert.equal(error?.movedTo, join(dir, names[0]));
});

test('StateSaver saves on its timer and on demand, one save at a time, and logs failures', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const dir = await tempDir(t);
  const file = join(dir, 'state');
  const { log, lines } = capture();
  let calls = 0;
  let active = 0;
  let mostActive = 0;
  const gates: PromiseWithResolvers<void>[] = [];
  const snapshot = async () => {
    const n = ++calls;
    active++;
    mostActive = Math.max(mostActive, active);
    const gate = Promise.withResolvers<void>();
    gates.push(gate);
    await gate.promise;
    active--;
    return Buffer.from(`save ${n}`);
  };
  const saver = new StateSaver(file, 60, snapshot, log).start();

  t.mock.timers.tick(60_000);
  await turn();
  assert.equal(calls, 1, 'the timer started a save');
  t.mock.timers.tick(60_000);
  await turn();
  assert.equal(calls, 1, 'a save due while one runs is skipped');
  const now = saver.saveNow();
  await turn();
  assert.equal(calls, 1, 'saveNow waits for the save under way');
  gates[0].resolve();
  while (calls < 2) await turn();
  gates[1].resolve();
  await now;
  assert.equal(mostActive, 1);
  assert.equal(await readFile(file, 'utf8'), 'save 2');
  assert.equal(lines.filter((l) => l.msg === 'state saved' && l.file === file).length, 2);

  saver.stop();
  t.mock.timers.tick(600_000);
  await turn();
  assert.equal(calls, 2, 'stopped');

  const nowhere = join(dir, 'missing', 'state');
  const failing = new StateSaver(nowhere, 60, async () => Buffer.from('x'), log);
  await assert.rejects(failing.saveNow(), /missing\/state: cannot save state: ENOENT/);
  const error = lines.find((l) => l.level === 50);
  assert.equal(error?.file, nowhere);
  assert.match(String(error?.reason), /ENOENT/);
  assert.throws(() => new StateSaver(file, 0, snapshot, log), RangeError);
});
