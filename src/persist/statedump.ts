// opentracker's statedump: one line per torrent, `<40 hex digits>:<base>:<downloaded>\n`, where `base` is the
// torrent's last activity in minutes since the Unix epoch. opentracker writes it for `/stats?mode=statedump` and reads
// it back with `-l`; loading one here lets an operator move from opentracker to swarmd keeping the download counts.
//
// opentracker's reader is lax (it skips bad hex digits and ignores what follows the numbers); this one is strict, so
// that a mangled file is noticed: each bad line is a problem with its line number and is skipped, the rest loads.

import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback } from 'node:zlib';
import type { Logger } from '../log.ts';
import { decodeHexHash, excerpt, forEachLine, hexDigits, isBlank, LineProblems, show } from '../protocol/text-lines.ts';
import type { SwarmStore } from '../swarm/store.ts';
import type { Clock } from '../tracker/clock.ts';

const gunzip = promisify(gunzipCallback);

export interface StatedumpEntry {
  /** The info hash, 20 bytes. */
  hash: Buffer;
  /** Last activity, minutes since the Unix epoch. */
  baseMinutes: number;
  downloaded: number;
}

export interface StatedumpProblem {
  file: string;
  /** 1-based. */
  line: number;
  reason: string;
}

export interface ParsedStatedump {
  entries: StatedumpEntry[];
  problems: StatedumpProblem[];
}

export interface StatedumpLoad {
  /** Torrents restored. */
  loaded: number;
  /** Good lines whose hash the access list refused. */
  refused: number;
  /** Bad lines, each skipped. */
  problems: number;
}

/** Both numbers are kept in 32 bits: the store's download counter is a Uint32Array, and minutes fit until 10136. */
const MAX_VALUE = 0xffffffff;
/** A gzipped dump (opentracker gzips its HTTP reply) is inflated up to this size; ~17 million torrents. */
const MAX_INFLATED = 1 << 30;
/** Oldest last activity restored, in seconds before now: keeps clock times inside the store's Int32Array. */
const MAX_AGE = 2 ** 30;

const HASH_DIGITS = 40;
const COLON = 0x3a;

const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/** Called for each good line: the hash is `hash[0…20]`, a buffer reused from line to line. */
type Visit = (hash: Buffer, baseMinutes: number, downloaded: number) => void;

/** Parses a statedump. Never throws; memory beyond the text is one entry per good line and at most 101 problems. */
export function parseStatedump(text: Uint8Array, file: string): ParsedStatedump {
  const entries: StatedumpEntry[] = [];
  const { problems } = scan(text, file, (hash, baseMinutes, downloaded) => {
    entries.push({ hash: Buffer.from(hash), baseMinutes, downloaded });
  });
  return { entries, problems };
}

/**
 * Reads the statedump at `path` (plain or gzipped) into `store`: every good line whose hash `allows` accepts becomes a
 * torrent with its download count and last activity, and no peers. Each problem is logged with its file and line.
 * Rejects only when the file cannot be read; bad content is logged and counted.
 */
export async function loadStatedump(
  path: string,
  store: SwarmStore,
  clock: Pick<Clock, 'now'>,
  allows: (hash: Uint8Array, off: number) => boolean,
  log: Logger,
): Promise<StatedumpLoad> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the statedump: ${(err as Error).message}`);
  }
  if (text[0] === 0x1f && text[1] === 0x8b) {
    try {
      text = await gunzip(text, { maxOutputLength: MAX_INFLATED });
    } catch (err) {
      log.error(
        { file: path, reason: `cannot inflate it (gzip, at most 1 GiB): ${(err as Error).message}` },
        'statedump not loaded',
      );
      return { loaded: 0, refused: 0, problems: 1 };
    }
  }
  const now = clock.now;
  const wallNow = Date.now() / 1000;
  let loaded = 0;
  let refused = 0;
  const scanned = scan(text, path, (hash, baseMinutes, downloaded) => {
    if (!allows(hash, 0)) {
      refused++;
      return;
    }
    // A base in the future (clocks disagree between machines) counts as now.
    const age = Math.min(MAX_AGE, Math.max(0, Math.floor(wallNow - baseMinutes * 60)));
    store.restoreTorrent(hash, 0, downloaded, now - age, now);
    loaded++;
  });
  for (const problem of scanned.problems) log.warn(problem, 'statedump line skipped');
  log.info({ file: path, loaded, refused, problems: scanned.total }, 'statedump loaded');
  return { loaded, refused, problems: scanned.total };
}

/** Walks the lines: good ones go to `visit`, bad ones become problems (the first 100 listed). */
function scan(text: Uint8Array, file: string, visit: Visit): { problems: StatedumpProblem[]; total: number } {
  const problems = new LineProblems();
  const hash = Buffer.alloc(20);
  const numbers = [0, 0];
  forEachLine(text, (start, end, line, last) => {
    const reason = lineProblem(text, start, end, hash, numbers);
    if (reason === null) visit(hash, numbers[0], numbers[1]);
    else if (reason !== BLANK) {
      problems.add(line, reason + (last ? ' (the last line has no newline: was the file cut short?)' : ''));
    }
  });
  return { problems: problems.finish().map((p) => ({ file, ...p })), total: problems.total };
}

/** Marks a blank line in lineProblem()'s result. */
const BLANK = '';

/**
 * Null for a good line, whose hash is then in `hash` and its base and downloaded in `numbers`; BLANK for a blank
 * line; else what is wrong with it.
 */
function lineProblem(text: Uint8Array, start: number, end: number, hash: Buffer, numbers: number[]): string | null {
  let i = start;
  while (i < end && isBlank(text[i])) i++;
  if (i === end) return BLANK;

  const digits = hexDigits(text, start, end, end - start);
  const next = start + digits;
  if (digits < HASH_DIGITS && next < end && text[next] !== COLON) {
    return `non-hex character ${show(text, next, next + 1)} at column ${digits + 1} of the info hash`;
  }
  if (digits !== HASH_DIGITS) return `expected an info hash of ${HASH_DIGITS} hex digits, found ${digits}`;
  decodeHexHash(text, start, hash, 0);

  let at = next;
  for (let field = 0; field < 2; field++) {
    const name = field === 0 ? 'base (minutes since the epoch)' : 'downloaded count';
    if (at === end) return `missing ${name}`;
    if (text[at] !== COLON)
      return `expected ':' before the ${name} at column ${at - start + 1}, found ${show(text, at, at + 1)}`;
    at++;
    const from = at;
    let value = 0;
    while (at < end && isDigit(text[at])) {
      // Past MAX_VALUE the exact figure no longer matters, and stopping there keeps it an exact integer.
      if (value <= MAX_VALUE) value = value * 10 + text[at] - 0x30;
      at++;
    }
    if (at === from) {
      return at === end
        ? `missing ${name}`
        : `${name} is not a decimal number: ${show(text, at, at + 1)} at column ${at - start + 1}`;
    }
    if (value > MAX_VALUE) return `${name} ${excerpt(text, from, at)} is out of range (at most ${MAX_VALUE})`;
    numbers[field] = value;
  }
  if (at < end) return `unexpected ${excerpt(text, at, end)} after the downloaded count at column ${at - start + 1}`;
  return null;
}
