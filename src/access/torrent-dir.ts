// The Anomos tracker's allowed_dir: the torrents allowed are those whose .torrent files lie in one directory, rescanned
// on a timer. Files are remembered by (size, mtime) so that a rescan reads only what changed. A file that stops parsing
// (one being rewritten, say) keeps the hash of its last good parse: a torrent must not drop out for a half-written file.

import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { BencodeError, decode } from '../protocol/bencode.ts';
import { HashSet } from './hash-set.ts';

/** Larger files are not read: a .torrent with 16 MiB of piece hashes describes terabytes. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Files considered per scan, in name order; the rest are left out with a warning. */
const MAX_FILES = 100_000;

interface Entry {
  size: number;
  mtimeMs: number;
  /** The info hash of the last good parse, or null if there never was one. */
  hash: Buffer | null;
}

export class TorrentDir {
  readonly dir: string;
  /** The info hashes of the torrents in the directory. */
  current: HashSet = HashSet.EMPTY;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private readonly entries = new Map<string, Entry>();
  /** The scan under way, and one queued behind it that later callers join. */
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(dir: string, intervalSeconds: number, log: Logger) {
    this.dir = dir;
    this.intervalMs = intervalSeconds * 1000;
    this.log = log;
  }

  /** Scans the directory; a scan asked for while one runs starts when it ends, so scans never overlap. */
  scan(): Promise<void> {
    if (this.queued !== null) return this.queued;
    if (this.running === null) {
      this.running = this.scanOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued = this.running.then(() => {
      this.queued = null;
      return this.scan();
    });
    return this.queued;
  }

  /** Rescans every intervalSeconds, counted from the end of the previous scan; the timer keeps no process alive. */
  start(): void {
    if (this.timer !== null) return;
    const next = (): void => {
      this.timer = setTimeout(() => {
        void this.scan().then(() => {
          if (this.timer !== null) next();
        });
      }, this.intervalMs).unref();
    };
    next();
  }

  /** Stops the rescans; a scan under way finishes. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async scanOnce(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.torrent') || n.endsWith('.atorrent')).sort();
    } catch (e) {
      this.log.error(
        { dir: this.dir, reason: (e as Error).message, torrents: this.current.size },
        'torrent directory unreadable; the torrents allowed stay as they were',
      );
      return;
    }
    if (names.length > MAX_FILES) {
      this.log.warn(
        { dir: this.dir, files: names.length, max: MAX_FILES },
        'too many .torrent files; the rest ignored',
      );
      names.length = MAX_FILES;
    }

    let changed = false;
    const seen = new Set(names);
    for (const name of this.entries.keys()) {
      if (!seen.has(name)) changed = this.entries.delete(name) || changed;
    }
    for (const name of names) changed = (await this.update(name)) || changed;
    if (!changed) return;

    const hashes: Buffer[] = [];
    for (const entry of this.entries.values()) if (entry.hash !== null) hashes.push(entry.hash);
    this.current = new HashSet(Buffer.concat(hashes));
    this.log.info({ dir: this.dir, torrents: this.current.size }, 'torrent directory scanned');
  }

  /** Brings one file's entry up to date; true when its hash changed or it appeared or vanished. */
  private async update(name: string): Promise<boolean> {
    const file = join(this.dir, name);
    const old = this.entries.get(name);
    let size: number;
    let mtimeMs: number;
    try {
      const s = await stat(file);
      if (!s.isFile()) return this.entries.delete(name);
      size = s.size;
      mtimeMs = s.mtimeMs;
    } catch (e) {
      // Gone since readdir: as if deleted. Anything else: keep what we had and try again next scan.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return this.entries.delete(name);
      this.log.warn({ file, reason: (e as Error).message }, 'torrent file unreadable; its previous hash is kept');
      return false;
    }
    if (old !== undefined && old.size === size && old.mtimeMs === mtimeMs) return false;

    const previous = old?.hash ?? null;
    const parsed = size > MAX_FILE_BYTES ? { error: `larger than ${MAX_FILE_BYTES} bytes` } : await infoHash(file);
    if ('error' in parsed) {
      this.log.warn(
        { file, reason: parsed.error, kept: previous !== null },
        'torrent file not understood; its previous hash, if any, is kept',
      );
      // Remembered with the new (size, mtime), so the same bad file is not read and reported again at every scan.
      this.entries.set(name, { size, mtimeMs, hash: previous });
      return false;
    }
    this.entries.set(name, { size, mtimeMs, hash: parsed.hash });
    return previous === null || !previous.equals(parsed.hash);
  }
}

/** SHA-1 of the exact bytes of the top-level `info` dictionary, as clients compute it. */
async function infoHash(file: string): Promise<{ hash: Buffer } | { error: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return { error: (e as Error).message };
  }
  const spans = new Map<string, { start: number; end: number }>();
  try {
    decode(bytes, { maxDepth: 64, sortedKeys: false, spans });
  } catch (e) {
    if (e instanceof BencodeError) return { error: e.message };
    throw e;
  }
  const span = spans.get('info');
  if (span === undefined || bytes[span.start] !== 0x64) return { error: 'no info dictionary at the top level' };
  return { hash: createHash('sha1').update(bytes.subarray(span.start, span.end)).digest() };
}
