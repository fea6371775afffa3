// One whitelist or blacklist file, kept in force as a HashSet. The tracker serves from `current` at all times: a
// reload builds the new set aside and swaps it in with one assignment, and a reload that finds the file unreadable or
// with any problem (a half-written file looks like that) keeps the last good list.

import { readFile } from 'node:fs/promises';
import { FileWatch } from '../file-watch.ts';
import type { Logger } from '../log.ts';
import { type HashListProblem, parseHashList } from './hash-list.ts';
import { HashSet } from './hash-set.ts';

export interface HashListFileOptions {
  /** Quiet time after the last change before the file is read again, so a burst of writes gives one reload. */
  debounceMs?: number;
}

export class HashListFile {
  readonly path: string;
  /** The list in force. */
  current: HashSet = HashSet.EMPTY;
  private readonly log: Logger;
  private readonly debounceMs: number;
  /** Every read runs after the one before, so reads never interleave and the last one read wins. */
  private tail: Promise<unknown> = Promise.resolve();
  /** A reload queued behind a running read and not started yet: later requests join it. */
  private queued: Promise<boolean> | null = null;
  private watcher: FileWatch | null = null;

  constructor(path: string, log: Logger, options: HashListFileOptions = {}) {
    this.path = path;
    this.log = log;
    this.debounceMs = options.debounceMs ?? 200;
  }

  /**
   * The first load, at start-up. A missing or unreadable file leaves the empty set (as opentracker does: a whitelist
   * then refuses everything, a blacklist refuses nothing); a file with problems loads its good lines.
   */
  load(): Promise<void> {
    return this.serialize(async () => {
      const read = await this.read();
      if ('error' in read) {
        this.log.error({ file: this.path, reason: read.error }, 'access list unreadable; none in force');
        return;
      }
      this.logProblems(read.problems);
      this.current = read.hashes;
      this.log.info({ file: this.path, hashes: read.hashes.size }, 'access list loaded');
    });
  }

  /** Reads the file again; false (the previous list stays in force) when it is unreadable or has any problem. */
  reload(why: string): Promise<boolean> {
    if (this.queued !== null) return this.queued;
    const queued = this.serialize(async () => {
      this.queued = null;
      const read = await this.read(true);
      if ('error' in read) {
        this.log.error(
          { file: this.path, why, reason: read.error, hashes: this.current.size },
          'access list unreadable; the previous list stays in force',
        );
        return false;
      }
      if (read.problems.length > 0) {
        this.logProblems(read.problems);
        this.log.error(
          { file: this.path, why, problems: read.problems.length, hashes: this.current.size },
          'access list has problems; the previous list stays in force',
        );
        return false;
      }
      this.current = read.hashes;
      this.log.info({ file: this.path, why, hashes: read.hashes.size }, 'access list reloaded');
      return true;
    });
    this.queued = queued;
    return queued;
  }

  /** Reloads when the file changes (see file-watch.ts). */
  watch(): void {
    if (this.watcher !== null) return;
    this.watcher = new FileWatch([this.path], () => void this.reload('file changed'), {
      debounceMs: this.debounceMs,
      failed: (reason) => {
        this.log.error({ file: this.path, reason }, 'watching the access list failed; reload with SIGHUP');
        this.watcher = null;
      },
    });
  }

  /** Stops watching; a reload under way finishes. */
  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private serialize<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * `refuseEmpty`: a file of no bytes is an error. Truncating and then writing is how most tools rewrite a file, so
   * at a reload an empty file is most likely one being written; a list meant to be empty holds a comment.
   */
  private async read(
    refuseEmpty = false,
  ): Promise<{ hashes: HashSet; problems: HashListProblem[] } | { error: string }> {
    try {
      const text = await readFile(this.path);
      if (refuseEmpty && text.length === 0) return { error: 'the file is empty (still being written?)' };
      return parseHashList(text);
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  private logProblems(problems: HashListProblem[]): void {
    for (const { line, reason } of problems) this.log.warn({ file: this.path, line, reason }, 'access list problem');
  }
}
