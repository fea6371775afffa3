// swarmd's saved state: every torrent with its download count and last activity, and every peer with its endpoint,
// state and age, so that a restart (an upgrade, a reboot) keeps the swarms instead of waiting an announce interval for
// every peer to come back. Unlike opentracker's statedump it keeps the peers.
//
// Layout, all integers big-endian (times are wall-clock seconds: the store's clock restarts with the process):
//   header   0 magic 89 53 57 44 0d 0a 1a 0a ("\x89SWD\r\n\x1a\n")   8 u16 version (1)   10 u16 zero
//            12 u32 saved at (seconds since the Unix epoch)
//   torrent  0 info hash (20)   20 u32 downloaded   24 u32 last activity (seconds since the epoch, ≤ saved at)
//            28 u32 IPv4 peers   32 u32 IPv6 peers, then those peers, IPv4 first:
//   peer     endpoint (address and port: 6 bytes for IPv4, 18 for IPv6)   u16 age (seconds before saved at)
//            u8 flags (PEER_* below; no other bits)
//   trailer  0 u32 torrents   4 u32 peers   8 u32 CRC-32 of every byte before it
// The CRC catches a truncated or damaged file as a whole before any of it is used; the counts in the trailer and the
// checks on every field catch a file that a buggy writer made.
//
// Saving walks the store in slices that yield to the event loop, so announces keep flowing while millions of peers
// are written; a torrent is always written whole between two yields. The file is replaced atomically.

import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import type { Logger } from '../log.ts';
import { FLAG_COMPLETED, FLAG_PARTIAL } from '../swarm/peer-pool.ts';
import { ENDPOINT_SIZE, type SwarmStore } from '../swarm/store.ts';
import type { Clock } from '../tracker/clock.ts';

export const STATE_VERSION = 1;
const MAGIC = Buffer.from([0x89, 0x53, 0x57, 0x44, 0x0d, 0x0a, 0x1a, 0x0a]);
const HEADER_SIZE = 16;
const TORRENT_SIZE = 36;
const TRAILER_SIZE = 12;
/** Bytes after the endpoint: age and flags. */
const PEER_TAIL = 3;
const PEER_SIZE = [ENDPOINT_SIZE[0] + PEER_TAIL, ENDPOINT_SIZE[1] + PEER_TAIL] as const;

/** Peer flags in the file; seeder and partial never together (a BEP 21 partial seed is not a seeder). */
const PEER_SEEDER = 1;
const PEER_PARTIAL = 2;
const PEER_COMPLETED = 4;
const BOTH = PEER_SEEDER | PEER_PARTIAL;

/** Torrents plus peers written between two yields to the event loop. */
const SLICE = 16384;
/** Output is gathered in chunks of this size. */
const CHUNK = 1 << 20;
/** Peer ages are kept in 16 bits; the store forgets a peer long before (its TTL is at most 12 h). */
const MAX_AGE = 0xffff;
/** Oldest last activity restored, in seconds before now: keeps clock times inside the store's Int32Array. */
const MAX_TORRENT_AGE = 2 ** 30;

export interface DecodedState {
  file: string;
  /** Wall-clock seconds since the Unix epoch when the state was saved. */
  savedAt: number;
  torrents: number;
  peers: number;
  /** The whole file, checked: restoreState() walks its records. */
  bytes: Uint8Array;
}

export interface StateRestore {
  /** Torrents restored. */
  torrents: number;
  /** Peers restored. */
  peers: number;
  /** Torrents the access list refused, with their peers. */
  refused: number;
  /** Peers older than the TTL by now, left out. */
  expired: number;
}

/** Why a state file cannot be used: `message` is `file: reason`. */
export class StateFileError extends Error {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'StateFileError';
    this.file = file;
    this.reason = reason;
  }
}

/** Serialises every torrent and peer of `store`, yielding to the event loop between slices. */
export async function encodeState(store: SwarmStore, clock: Pick<Clock, 'now'>): Promise<Buffer> {
  const savedAt = Math.floor(Date.now() / 1000);
  const savedClock = clock.now;
  const out = new ChunkWriter();
  let at = out.reserve(HEADER_SIZE);
  MAGIC.copy(out.chunk, at);
  out.chunk.writeUInt16BE(STATE_VERSION, at + 8);
  out.chunk.writeUInt16BE(0, at + 10);
  out.chunk.writeUInt32BE(savedAt, at + 12);

  const [v4, v6] = store.pools;
  let torrents = 0;
  let peers = 0;
  let sinceYield = 0;
  for (let tid = 0; tid < store.idLimit; tid++) {
    if (!store.isAlive(tid)) continue;
    // The clock may have moved on since the walk began: ages are measured back to `savedClock`.
    const now = clock.now;
    const elapsed = now - savedClock;
    const n4 = v4.countOf(tid);
    const n6 = v6.countOf(tid);
    at = out.reserve(TORRENT_SIZE + n4 * PEER_SIZE[0] + n6 * PEER_SIZE[1]);
    const chunk = out.chunk;
    store.copyHash(tid, chunk, at);
    chunk.writeUInt32BE(store.downloaded(tid), at + 20);
    chunk.writeUInt32BE(savedAt - clamp(savedClock - store.lastActive(tid), 0, savedAt), at + 24);
    chunk.writeUInt32BE(n4, at + 28);
    chunk.writeUInt32BE(n6, at + 32);
    at += TORRENT_SIZE;
    for (const pool of store.pools) {
      const stride = pool.stride;
      const start = pool.blockStartOf(tid);
      const n = pool.countOf(tid);
      const downloaders = pool.downloadersOf(tid);
      for (let i = 0; i < n; i++) {
        const slot = start + i;
        for (let b = 0; b < stride; b++) chunk[at + b] = pool.endpoints[slot * stride + b];
        at += stride;
        chunk.writeUInt16BE(clamp(pool.age(slot, now) - elapsed, 0, MAX_AGE), at);
        const f = pool.flags[slot];
        const partial = (f & FLAG_PARTIAL) !== 0;
        chunk[at + 2] =
          (i >= downloaders && !partial ? PEER_SEEDER : 0) |
          (partial ? PEER_PARTIAL : 0) |
          ((f & FLAG_COMPLETED) !== 0 ? PEER_COMPLETED : 0);
        at += PEER_TAIL;
      }
    }
    torrents++;
    peers += n4 + n6;
    sinceYield += 1 + n4 + n6;
    if (sinceYield >= SLICE) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }

  at = out.reserve(TRAILER_SIZE);
  out.chunk.writeUInt32BE(torrents, at);
  out.chunk.writeUInt32BE(peers, at + 4);
  const file = out.finish();
  file.writeUInt32BE(crc32(file.subarray(0, file.length - 4)), file.length - 4);
  return file;
}

/** Checks a state file whole; returns it ready for restoreState(), or what is wrong with it. Never throws. */
export function decodeState(bytes: Uint8Array, file: string): DecodedState | StateFileError {
  const fail = (reason: string) => new StateFileError(file, reason);
  if (bytes.length === 0) return fail('empty file');
  const magicSeen = Math.min(bytes.length, MAGIC.length);
  if (Buffer.compare(bytes.subarray(0, magicSeen), MAGIC.subarray(0, magicSeen)) !== 0) {
    return fail('not a swarmd state file (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 10 && view.getUint16(8) !== STATE_VERSION) {
    return fail(`unknown version ${view.getUint16(8)} (this swarmd reads version ${STATE_VERSION})`);
  }
  if (bytes.length < HEADER_SIZE + TRAILER_SIZE) {
    return fail(`truncated: ${bytes.length} bytes, and a state file has at least ${HEADER_SIZE + TRAILER_SIZE}`);
  }
  const end = bytes.length - TRAILER_SIZE;
  const stored = view.getUint32(end + 8);
  const computed = crc32(bytes.subarray(0, end + 8));
  if (stored !== computed) {
    return fail(
      `CRC mismatch (stored ${hex(stored, 8)}, computed ${hex(computed, 8)}): the file is truncated or damaged`,
    );
  }
  if (view.getUint16(10) !== 0) return fail(`impossible value ${view.getUint16(10)} in the header's zero field`);
  const savedAt = view.getUint32(12);

  let torrents = 0;
  let peers = 0;
  let at = HEADER_SIZE;
  while (at < end) {
    const where = `torrent ${torrents + 1} at byte ${at}`;
    if (end - at < TORRENT_SIZE) return fail(`${where} is cut short by the trailer`);
    const lastActive = view.getUint32(at + 24);
    if (lastActive > savedAt) return fail(`${where}: last activity ${lastActive} is after the save (${savedAt})`);
    const n4 = view.getUint32(at + 28);
    const n6 = view.getUint32(at + 32);
    at += TORRENT_SIZE;
    if (n4 * PEER_SIZE[0] + n6 * PEER_SIZE[1] > end - at) {
      return fail(`${where} claims ${n4} IPv4 and ${n6} IPv6 peers, more than the file holds`);
    }
    for (let family = 0; family < 2; family++) {
      const n = family === 0 ? n4 : n6;
      for (let i = 0; i < n; i++) {
        at += PEER_SIZE[family];
        const f = bytes[at - 1];
        if ((f & ~(PEER_SEEDER | PEER_PARTIAL | PEER_COMPLETED)) !== 0 || (f & BOTH) === BOTH) {
          return fail(`${where}: impossible peer flags ${hex(f, 2)} at byte ${at - 1}`);
        }
      }
    }
    torrents++;
    peers += n4 + n6;
  }
  const claimed = [view.getUint32(end), view.getUint32(end + 4)];
  if (claimed[0] !== torrents || claimed[1] !== peers) {
    return fail(
      `the trailer counts ${claimed[0]} torrents and ${claimed[1]} peers, the file holds ${torrents} and ${peers}`,
    );
  }
  return { file, savedAt, torrents, peers, bytes };
}

/**
 * Puts a decoded state into `store`: the torrents that `allows` accepts, and their peers not older than `peerTtl`
 * seconds by now (the time the tracker was down counts). Wall-clock times become `clock` times.
 */
export function restoreState(
  decoded: DecodedState,
  store: SwarmStore,
  clock: Pick<Clock, 'now'>,
  allows: (hash: Uint8Array, off: number) => boolean,
  peerTtl: number,
): StateRestore {
  const { bytes, savedAt } = decoded;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const now = clock.now;
  // The store measures ages modulo 2^16 s.
  const ttl = Math.min(peerTtl, MAX_AGE);
  // A wall clock set back since the save counts as no time passed.
  const down = Math.max(0, Math.floor(Date.now() / 1000) - savedAt);
  const result: StateRestore = { torrents: 0, peers: 0, refused: 0, expired: 0 };
  const end = bytes.length - TRAILER_SIZE;
  let at = HEADER_SIZE;
  while (at < end) {
    const n4 = view.getUint32(at + 28);
    const n6 = view.getUint32(at + 32);
    const next = at + TORRENT_SIZE + n4 * PEER_SIZE[0] + n6 * PEER_SIZE[1];
    if (!allows(bytes, at)) {
      result.refused++;
      at = next;
      continue;
    }
    const lastActive = now - Math.min(MAX_TORRENT_AGE, down + savedAt - view.getUint32(at + 24));
    const tid = store.restoreTorrent(bytes, at, view.getUint32(at + 20), lastActive, now);
    result.torrents++;
    at += TORRENT_SIZE;
    for (let family = 0; family < 2; family++) {
      const stride = ENDPOINT_SIZE[family];
      const n = family === 0 ? n4 : n6;
      for (let i = 0; i < n; i++, at += stride + PEER_TAIL) {
        const age = down + view.getUint16(at + stride);
        if (age > ttl) {
          result.expired++;
          continue;
        }
        const f = bytes[at + stride + 2];
        const seeder = (f & PEER_SEEDER) !== 0;
        const partial = (f & PEER_PARTIAL) !== 0;
        store.restorePeer(tid, family, bytes, at, seeder, partial, (f & PEER_COMPLETED) !== 0, now - age);
        result.peers++;
      }
    }
  }
  return result;
}

/**
 * Replaces the file at `path` with `bytes` atomically: a temporary file in the same directory, flushed to disk, then
 * renamed over `path`, and the directory flushed so the rename survives a crash. On failure the previous file is
 * intact, the temporary file is gone, and the error names `path` and the reason.
 */
export async function writeStateFile(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    // Owner-only: the file lists peers' addresses.
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new Error(`${path}: cannot save state: ${(err as Error).message}`);
  }
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    throw new Error(`${path}: saved, but flushing its directory failed: ${(err as Error).message}`);
  }
}

/**
 * Reads and checks the state file at `path`. A missing file is a first run (null). A file that cannot be read or used
 * is logged, moved aside to `path.corrupt-<time>` so that the next save does not destroy it, and gives null: the
 * tracker then starts empty.
 */
export async function readStateFile(path: string, log: Logger): Promise<DecodedState | null> {
  let reason: string;
  try {
    const decoded = decodeState(await readFile(path), path);
    if (!(decoded instanceof StateFileError)) {
      const { savedAt, torrents, peers } = decoded;
      log.info({ file: path, savedAt: new Date(savedAt * 1000).toISOString(), torrents, peers }, 'saved state read');
      return decoded;
    }
    reason = decoded.reason;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      log.info({ file: path }, 'no saved state yet: starting empty');
      return null;
    }
    if (code === 'EISDIR') {
      log.error({ file: path, reason: 'it is a directory' }, 'saved state not read: starting empty');
      return null;
    }
    reason = `cannot read it: ${(err as Error).message}`;
  }
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[-:]/g, '')}`;
  try {
    await rename(path, aside);
    log.error({ file: path, reason, movedTo: aside }, 'saved state unusable: moved aside, starting empty');
  } catch (err) {
    const why = (err as Error).message;
    log.error(
      { file: path, reason, moveError: why },
      'saved state unusable and could not be moved aside: starting empty, and the next save replaces it',
    );
  }
  return null;
}

/** Saves the state every interval and on demand, one save at a time. */
export class StateSaver {
  private readonly path: string;
  private readonly intervalMs: number;
  private readonly snapshot: () => Promise<Buffer>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  /** Saves run one after the other on this chain. */
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;

  /** `snapshot`: makes the bytes to save, e.g. `() => encodeState(store, clock)`. */
  constructor(path: string, intervalSeconds: number, snapshot: () => Promise<Buffer>, log: Logger) {
    // setInterval turns delays beyond 2^31 - 1 ms into 1 ms.
    if (!(intervalSeconds >= 1 && intervalSeconds * 1000 <= 0x7fffffff)) {
      throw new RangeError(`state save interval ${intervalSeconds} s: it must be from 1 s to 24 days`);
    }
    this.path = path;
    this.intervalMs = intervalSeconds * 1000;
    this.snapshot = snapshot;
    this.log = log;
  }

  /** Saves every interval; a save still running when the next is due makes that one skip. */
  start(): this {
    this.timer ??= setInterval(() => {
      if (this.pending === 0) this.enqueue().catch(() => {});
    }, this.intervalMs).unref();
    return this;
  }

  /** Stops the timer; a save under way finishes. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Saves once more, after any save under way, so the file holds the state as of now (for shutdown). Rejects when the
   * save fails; the failure is logged already.
   */
  saveNow(): Promise<void> {
    return this.enqueue();
  }

  private enqueue(): Promise<void> {
    this.pending++;
    const run = this.queue.then(() => this.save()).finally(() => this.pending--);
    this.queue = run.catch(() => {});
    return run;
  }

  private async save(): Promise<void> {
    const started = performance.now();
    try {
      const bytes = await this.snapshot();
      await writeStateFile(this.path, bytes);
      const ms = Math.round(performance.now() - started);
      this.log.info({ file: this.path, bytes: bytes.length, ms }, 'state saved');
    } catch (err) {
      this.log.error({ file: this.path, reason: (err as Error).message }, 'state not saved');
      throw err;
    }
  }
}

/** Gathers output in chunks, so that a large store never needs one buffer regrown (and copied) again and again. */
class ChunkWriter {
  chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private readonly done: Buffer[] = [];

  /** Makes room for `n` more bytes in `chunk`; returns where they go. The caller writes them all. */
  reserve(n: number): number {
    if (this.used + n > this.chunk.length) {
      this.done.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK, n));
      this.used = 0;
    }
    const at = this.used;
    this.used += n;
    return at;
  }

  /** Everything written, in one buffer. */
  finish(): Buffer {
    return Buffer.concat([...this.done, this.chunk.subarray(0, this.used)]);
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}
