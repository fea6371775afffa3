// Access control on real files: list files reloaded by a real fs.watch, a torrent directory rescanned, and the policy
// that combines them.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bencode from 'bencode';
import pino from 'pino';
import { HashListFile } from '../../src/access/list-file.ts';
import { AccessPolicy } from '../../src/access/policy.ts';
import { TorrentDir } from '../../src/access/torrent-dir.ts';
import type { Logger } from '../../src/log.ts';

type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A pino logger whose JSON lines are kept for the test to read. */
function capture(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const WARN = 40;
const ERROR = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, done: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const hashes = (n: number): Buffer[] => Array.from({ length: n }, () => randomBytes(20));
const listText = (hs: Buffer[], eol = '\n'): string => hs.map((h) => h.toString('hex') + eol).join('');
const hasAll = (set: { has(h: Uint8Array, off: number): boolean }, hs: Buffer[]): boolean =>
  hs.every((h) => set.has(h, 0));
const hasNone = (set: { has(h: Uint8Array, off: number): boolean }, hs: Buffer[]): boolean =>
  hs.every((h) => !set.has(h, 0));

let root: string;
let dirCount = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmd-access-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `d${dirCount++}`);
  await mkdir(dir);
  return dir;
}

describe('HashListFile', () => {
  test('the first load: hashes, comments, and problems logged with their line while the good hashes load', async () => {
    const dir = await freshDir();
    const [a, b] = hashes(2);
    const path = join(dir, 'whitelist.txt');
    await writeFile(
      path,
      `# list\r\n${a.toString('hex')} first\r\nnot a hash\r\n${b.toString('hex').toUpperCase()}\r\n`,
    );
    const { log, lines } = capture();
    const file = new HashListFile(path, log);
    await file.load();
    assert.equal(file.current.size, 2);
    assert.ok(hasAll(file.current, [a, b]));
    const problem = lines.find((l) => l.level === WARN);
    assert.equal(problem?.file, path);
    assert.equal(problem?.line, 3);
    assert.match(String(problem?.reason), /not a hash/);
    assert.ok(lines.some((l) => l.msg === 'access list loaded' && l.hashes === 2));
  });

  test('a missing file at the first load: an error naming it, and an empty list', async () => {
    const dir = await freshDir();
    const path = join(dir, 'missing.txt');
    const { log, lines } = capture();
    const file = new HashListFile(path, log);
    await file.load();
    assert.equal(file.current.size, 0);
    const error = lines.find((l) => l.level === ERROR);
    assert.equal(error?.file, path);
    assert.match(String(error?.reason), /ENOENT/);
  });

  test('the watcher picks up a change, an atomic rename, and the end of a half-written file', async () => {
    const dir = await freshDir();
    const path = join(dir, 'list.txt');
    const [a, b, c, d, e] = hashes(5);
    await writeFile(path, listText([a]));
    const { log, lines } = capture();
    const file = new HashListFile(path, log, { debounceMs: 30 });
    await file.load();
    file.watch();
    try {
      // Rewritten in place.
      await writeFile(path, listText([a, b]));
      await waitFor('the rewritten list', () => file.current.has(b, 0));
      assert.equal(file.current.size, 2);

      // Replaced by a rename, as editors and `mv` do.
      const tmp = join(dir, '.list.txt.tmp');
      await writeFile(tmp, listText([c]));
      await rename(tmp, path);
      await waitFor('the renamed list', () => file.current.has(c, 0));
      assert.equal(file.current.size, 1);

      // Half written: truncated and cut in the middle of a hash. The old list stays in force.
      const full = Buffer.from(listText([d, e], '\r\n'));
      const half = 42 + 20; // the first line and half the second
      const fd = await open(path, 'w');
      await fd.write(full, 0, half, 0);
      await fd.sync();
      await waitFor('the problem logged', () => lines.some((l) => l.level === WARN && l.line === 2));
      const problem = lines.find((l) => l.level === WARN && l.line === 2);
      assert.equal(problem?.file, path);
      assert.match(String(problem?.reason), /found 20 \(the last line has no newline/);
      assert.ok(file.current.has(c, 0) && file.current.size === 1, 'the old list is still in force');

      // Finished: the complete file loads.
      await fd.write(full, half, full.length - half, half);
      await fd.close();
      await waitFor('the finished list', () => file.current.has(e, 0));
      assert.ok(hasAll(file.current, [d, e]) && hasNone(file.current, [c]));
    } finally {
      file.close();
    }

    // Once closed, changes are no longer seen.
    const [f] = hashes(1);
    await writeFile(path, listText([f]));
    await sleep(150);
    assert.equal(file.current.has(f, 0), false);
  });

  test('reload: an empty file keeps the old list (a truncated file being written looks like that)', async () => {
    const dir = await freshDir();
    const path = join(dir, 'list.txt');
    const [a] = hashes(1);
    await writeFile(path, listText([a]));
    const file = new HashListFile(path, capture().log);
    await file.load();
    await writeFile(path, '');
    assert.equal(await file.reload('SIGHUP'), false);
    assert.ok(file.current.has(a, 0));
    await writeFile(path, '# empty on purpose\n');
    assert.equal(await file.reload('SIGHUP'), true);
    assert.equal(file.current.size, 0);
  });

  test('reload: an unreadable file keeps the old list; a good one replaces it', async () => {
    const dir = await freshDir();
    const path = join(dir, 'list.txt');
    const [a, b] = hashes(2);
    await writeFile(path, listText([a]));
    const { log, lines } = capture();
    const file = new HashListFile(path, log);
    await file.load();

    await rm(path);
    assert.equal(await file.reload('SIGHUP'), false);
    assert.ok(file.current.has(a, 0));
    const error = lines.find((l) => l.level === ERROR);
    assert.equal(error?.file, path);
    assert.equal(error?.why, 'SIGHUP');

    await mkdir(path); // a directory where the file was: unreadable too
    assert.equal(await file.reload('SIGHUP'), false);
    assert.ok(file.current.has(a, 0));
    await rm(path, { recursive: true });

    await writeFile(path, listText([b]));
    assert.equal(await file.reload('SIGHUP'), true);
    assert.ok(file.current.has(b, 0) && !file.current.has(a, 0));
    assert.ok(lines.some((l) => l.msg === 'access list reloaded' && l.hashes === 1 && l.why === 'SIGHUP'));
  });

  test('reloads asked for together do not interleave, and the last content wins', async () => {
    const dir = await freshDir();
    const path = join(dir, 'list.txt');
    const versions = Array.from({ length: 6 }, () => hashes(50));
    await writeFile(path, listText(versions[0]));
    const file = new HashListFile(path, capture().log);
    await file.load();
    const pending: Promise<boolean>[] = [];
    for (const v of versions.slice(1)) {
      await writeFile(path, listText(v));
      pending.push(file.reload('test'), file.reload('test'));
    }
    assert.equal(pending[2], pending[3], 'a reload queued behind a running one is joined, not repeated');
    // Earlier reloads may read a file that writeFile has just truncated and be refused; the last one reads it whole.
    const results = await Promise.all(pending);
    assert.equal(results.at(-1), true);
    assert.ok(hasAll(file.current, versions[5]));
    assert.equal(file.current.size, 50);
  });
});

/** A single-file torrent's bytes and its info hash, computed by encoding the info dictionary alone. */
function makeTorrent(name: string, length = 1 + Math.floor(Math.random() * 1e9)): { bytes: Buffer; hash: Buffer } {
  const info = { length, name, 'piece length': 262144, pieces: randomBytes(20 * 3) };
  const bytes = Buffer.from(bencode.encode({ announce: 'http://tracker.example:6969/announce', info }));
  return { bytes, hash: createHash('sha1').update(bencode.encode(info)).digest() };
}

describe('TorrentDir', () => {
  test('added, changed, corrupted, unchanged and deleted files across scans', async () => {
    const dir = await freshDir();
    const { log, lines } = capture();
    const torrents = new TorrentDir(dir, 60, log);
    await torrents.scan();
    assert.equal(torrents.current.size, 0);

    const a = makeTorrent('a');
    const b = makeTorrent('b');
    const other = makeTorrent('other');
    await writeFile(join(dir, 'a.torrent'), a.bytes);
    await writeFile(join(dir, 'b.atorrent'), b.bytes); // Anomos's name for them
    await writeFile(join(dir, 'other.txt'), other.bytes);
    await mkdir(join(dir, 'sub.torrent'));
    await writeFile(join(dir, 'sub.torrent', 'inner.torrent'), other.bytes);
    await torrents.scan();
    assert.equal(torrents.current.size, 2);
    assert.ok(hasAll(torrents.current, [a.hash, b.hash]) && hasNone(torrents.current, [other.hash]));

    // Changed: the new hash replaces the old.
    const a2 = makeTorrent('a, second edition');
    await writeFile(join(dir, 'a.torrent'), a2.bytes);
    await torrents.scan();
    assert.ok(hasAll(torrents.current, [a2.hash, b.hash]) && hasNone(torrents.current, [a.hash]));

    // Corrupted (half written): the old hash is kept, and a warning names the file.
    await writeFile(join(dir, 'b.atorrent'), b.bytes.subarray(0, b.bytes.length >> 1));
    await torrents.scan();
    assert.ok(hasAll(torrents.current, [a2.hash, b.hash]));
    const warning = lines.find((l) => l.level === WARN);
    assert.equal(warning?.file, join(dir, 'b.atorrent'));
    assert.match(String(warning?.reason), /end of input/);

    // A file that never parsed adds nothing; not a dictionary with info, nor a torrent.
    await writeFile(join(dir, 'bad.torrent'), 'd8:announce3:urle');
    await torrents.scan();
    assert.equal(torrents.current.size, 2);
    assert.ok(lines.some((l) => l.file === join(dir, 'bad.torrent') && /no info dictionary/.test(String(l.reason))));

    // Finished writing: the corrupted file parses again.
    const b2 = makeTorrent('b, second edition');
    await writeFile(join(dir, 'b.atorrent'), b2.bytes);
    await torrents.scan();
    assert.ok(hasAll(torrents.current, [a2.hash, b2.hash]) && hasNone(torrents.current, [b.hash]));

    // Deleted: its hash goes.
    await rm(join(dir, 'a.torrent'));
    await torrents.scan();
    assert.equal(torrents.current.size, 1);
    assert.ok(hasNone(torrents.current, [a2.hash]));
  });

  test('an unchanged file (same size and mtime) is not read again', async () => {
    const dir = await freshDir();
    const { log, lines } = capture();
    const torrents = new TorrentDir(dir, 60, log);
    const t = makeTorrent('t');
    const path = join(dir, 't.torrent');
    const when = new Date(1_600_000_000_000);
    await writeFile(path, t.bytes);
    await utimes(path, when, when);
    await torrents.scan();
    assert.ok(torrents.current.has(t.hash, 0));

    // Garbage of the same size with the same mtime: a scan that read it would warn.
    await writeFile(path, Buffer.alloc(t.bytes.length, 0x78));
    await utimes(path, when, when);
    await torrents.scan();
    assert.ok(torrents.current.has(t.hash, 0));
    assert.equal(lines.filter((l) => l.level >= WARN).length, 0);
  });

  test('an unreadable directory at a rescan keeps the torrents it had', async () => {
    const dir = await freshDir();
    const { log, lines } = capture();
    const torrents = new TorrentDir(dir, 60, log);
    const t = makeTorrent('t');
    await writeFile(join(dir, 't.torrent'), t.bytes);
    await torrents.scan();
    await rm(dir, { recursive: true });
    await torrents.scan();
    assert.ok(torrents.current.has(t.hash, 0));
    const error = lines.find((l) => l.level === ERROR);
    assert.equal(error?.dir, dir);
  });

  test('start() rescans on its timer, and scans asked for together share one run', async () => {
    const dir = await freshDir();
    const torrents = new TorrentDir(dir, 0.05, capture().log);
    await torrents.scan();
    torrents.start();
    try {
      const t = makeTorrent('t');
      await writeFile(join(dir, 't.torrent'), t.bytes);
      await waitFor('the rescan', () => torrents.current.has(t.hash, 0));
    } finally {
      torrents.stop();
    }
    const first = torrents.scan();
    const second = torrents.scan();
    const third = torrents.scan();
    assert.notEqual(first, second);
    assert.equal(second, third);
    await Promise.all([first, second, third]);
  });
});

describe('AccessPolicy', () => {
  async function setUp(parts: { white?: Buffer[]; black?: Buffer[]; torrents?: string[] }) {
    const dir = await freshDir();
    const log = capture().log;
    const listFile = async (name: string, hs: Buffer[] | undefined): Promise<HashListFile | undefined> => {
      if (hs === undefined) return undefined;
      await writeFile(join(dir, name), listText(hs));
      return new HashListFile(join(dir, name), log);
    };
    const whitelist = await listFile('white', parts.white);
    const blacklist = await listFile('black', parts.black);
    let allowedDir: TorrentDir | undefined;
    const hashOf = new Map<string, Buffer>();
    if (parts.torrents) {
      await mkdir(join(dir, 'torrents'));
      for (const name of parts.torrents) {
        const t = makeTorrent(name);
        hashOf.set(name, t.hash);
        await writeFile(join(dir, 'torrents', `${name}.torrent`), t.bytes);
      }
      allowedDir = new TorrentDir(join(dir, 'torrents'), 60, log);
    }
    const policy = new AccessPolicy({ whitelist, blacklist, allowedDir });
    await policy.load();
    return { dir, policy, hashOf };
  }

  /** allows() read at an offset inside a larger buffer, as the hot path passes it. */
  const allows = (policy: AccessPolicy, h: Buffer): boolean => policy.allows(Buffer.concat([randomBytes(9), h]), 9);

  test('nothing configured: everything is allowed', async () => {
    const { policy } = await setUp({});
    assert.ok(allows(policy, randomBytes(20)));
  });

  test('a whitelist alone, a blacklist alone, and both', async () => {
    const [w, x, b] = hashes(3);
    const white = (await setUp({ white: [w] })).policy;
    assert.ok(allows(white, w));
    assert.ok(!allows(white, x));

    const black = (await setUp({ black: [b] })).policy;
    assert.ok(!allows(black, b));
    assert.ok(allows(black, x));

    const both = (await setUp({ white: [w, b], black: [b] })).policy;
    assert.ok(allows(both, w));
    assert.ok(!allows(both, b), 'the blacklist wins over the whitelist');
    assert.ok(!allows(both, x));
  });

  test('a whitelist and a torrent directory: either admits; the blacklist still refuses', async () => {
    const [w, b, x] = hashes(3);
    const { policy, hashOf } = await setUp({ white: [w], black: [b], torrents: ['one', 'two'] });
    const one = hashOf.get('one') as Buffer;
    assert.ok(allows(policy, w));
    assert.ok(allows(policy, one));
    assert.ok(allows(policy, hashOf.get('two') as Buffer));
    assert.ok(!allows(policy, x));
    assert.ok(!allows(policy, b));

    const dirOnly = (await setUp({ torrents: ['three'] })).policy;
    assert.ok(!allows(dirOnly, one));
  });

  test('a missing whitelist refuses everything, as in opentracker', async () => {
    const dir = await freshDir();
    const policy = new AccessPolicy({ whitelist: new HashListFile(join(dir, 'none'), capture().log) });
    await policy.load();
    assert.ok(!allows(policy, randomBytes(20)));
  });

  test('reload() rereads the lists and rescans the directory; start() and close() watch and stop', async () => {
    const [w, b, x] = hashes(3);
    const { dir, policy } = await setUp({ white: [w], black: [], torrents: [] });
    await writeFile(join(dir, 'white'), listText([w, x]));
    await writeFile(join(dir, 'black'), listText([w]));
    const t = makeTorrent('late');
    await writeFile(join(dir, 'torrents', 'late.torrent'), t.bytes);
    await policy.reload('SIGHUP');
    assert.ok(allows(policy, x) && allows(policy, t.hash) && !allows(policy, w));

    policy.start();
    try {
      await writeFile(join(dir, 'black'), listText([b, x]));
      await waitFor('the watched blacklist', () => !allows(policy, x));
    } finally {
      policy.close();
    }
  });
});
