// The full scrape: every torrent's figures, sorted by info hash, in one of the encodings opentracker offers (canonical
// bencode for /scrape, and the `tpbs` formats and statedump of /stats). A snapshot of the table is taken, sorted and
// encoded in slices that yield to the event loop, so announces keep flowing while a large table is walked; requests
// that arrive during a build share it.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { BencodeWriter } from '../protocol/bencode.ts';
import { type ScrapeEntry, writeScrapeEnd, writeScrapeEntry, writeScrapeStart } from '../protocol/http-replies.ts';
import type { SwarmStore } from '../swarm/store.ts';

const gzip = promisify(gzipCallback);

/** Torrents handled between two yields to the event loop. */
const SLICE = 8192;
/** Bytes one encoded entry can take in any format, with room to spare. */
const ENTRY_BYTES = 160;

/**
 * opentracker's full-scrape encodings: `ben` bencode (the /scrape body), `bin` 20-byte hash then seeders and leechers
 * as u32 big-endian, `txt` `HEX40:seeders:leechers\n`, `txtp` `HEX40:seeders:leechers:completed\n`, `url` the hash
 * percent-encoded then `:seeders:leechers\n`.
 */
export const SCRAPE_FORMATS = ['ben', 'bin', 'txt', 'txtp', 'url'] as const;
export type ScrapeFormat = (typeof SCRAPE_FORMATS)[number];

/** Every live torrent at one moment, in ascending hash order, each hash once. Arrays are indexed by position. */
export interface ScrapeSnapshot {
  count: number;
  /** `count` × 20 bytes. */
  hashes: Buffer;
  /** Seeders (left = 0). */
  complete: Uint32Array;
  /** Everyone else: downloaders and BEP 21 partial seeds. */
  incomplete: Uint32Array;
  /** BEP 21 downloaders (partial seeds left out). */
  downloaders: Uint32Array;
  /** Completed events counted. */
  downloaded: Uint32Array;
  /** Last announce, in the store's clock seconds (see SwarmStore.lastActive). */
  lastActive: Int32Array;
}

export interface FullScrapeBody {
  plain: Buffer;
  /** The same bytes gzip-compressed, made on first call and kept. */
  gzipped(): Promise<Buffer>;
}

export class FullScrape {
  private readonly store: SwarmStore;
  private readonly minRequestInterval: number;
  private snapshotInFlight: Promise<ScrapeSnapshot> | null = null;
  private readonly bodiesInFlight = new Map<ScrapeFormat, Promise<FullScrapeBody>>();

  constructor(store: SwarmStore, minRequestInterval: number) {
    this.store = store;
    this.minRequestInterval = minRequestInterval;
  }

  /** A fresh snapshot of the table; concurrent callers share one. */
  snapshot(): Promise<ScrapeSnapshot> {
    this.snapshotInFlight ??= takeSnapshot(this.store).finally(() => {
      this.snapshotInFlight = null;
    });
    return this.snapshotInFlight;
  }

  /** The full scrape in `format` (bencode by default); concurrent callers of one format share one build. */
  body(format: ScrapeFormat = 'ben'): Promise<FullScrapeBody> {
    let inFlight = this.bodiesInFlight.get(format);
    if (inFlight === undefined) {
      inFlight = this.build(format).finally(() => {
        this.bodiesInFlight.delete(format);
      });
      this.bodiesInFlight.set(format, inFlight);
    }
    return inFlight;
  }

  private async build(format: ScrapeFormat): Promise<FullScrapeBody> {
    const snap = await this.snapshot();
    const plain = await encodeScrape(snap, format, this.minRequestInterval);
    let zipped: Promise<Buffer> | null = null;
    return { plain, gzipped: () => (zipped ??= gzip(plain)) };
  }
}

/** Walks the store a slice at a time, then sorts by hash and drops repeats. */
async function takeSnapshot(store: SwarmStore): Promise<ScrapeSnapshot> {
  const limit = store.idLimit;
  const raw = allocSnapshot(limit);
  let n = 0;
  for (let tid = 0; tid < limit; tid++) {
    if (tid % SLICE === SLICE - 1) await yieldToLoop();
    if (tid >= store.idLimit || !store.isAlive(tid)) continue;
    store.copyHash(tid, raw.hashes, n * 20);
    raw.complete[n] = store.complete(tid);
    raw.incomplete[n] = store.incomplete(tid);
    raw.downloaders[n] = store.downloaders(tid);
    raw.downloaded[n] = store.downloaded(tid);
    raw.lastActive[n] = store.lastActive(tid);
    n++;
  }
  const order = await sortByHash(raw.hashes, n);

  // A torrent dropped and re-created under another id during the walk shows up twice: keep the first.
  const snap = allocSnapshot(n);
  const h = raw.hashes;
  let m = 0;
  let previous = -1;
  for (let k = 0; k < n; k++) {
    if (k % SLICE === SLICE - 1) await yieldToLoop();
    const i = order[k];
    if (previous >= 0 && h.compare(h, i * 20, i * 20 + 20, previous * 20, previous * 20 + 20) === 0) continue;
    previous = i;
    h.copy(snap.hashes, m * 20, i * 20, i * 20 + 20);
    snap.complete[m] = raw.complete[i];
    snap.incomplete[m] = raw.incomplete[i];
    snap.downloaders[m] = raw.downloaders[i];
    snap.downloaded[m] = raw.downloaded[i];
    snap.lastActive[m] = raw.lastActive[i];
    m++;
  }
  snap.count = m;
  return snap;
}

function allocSnapshot(capacity: number): ScrapeSnapshot {
  return {
    count: 0,
    hashes: Buffer.allocUnsafe(capacity * 20),
    complete: new Uint32Array(capacity),
    incomplete: new Uint32Array(capacity),
    downloaders: new Uint32Array(capacity),
    downloaded: new Uint32Array(capacity),
    lastActive: new Int32Array(capacity),
  };
}

/** Encodes `snap` in `format`; `minRequestInterval` goes into the bencoded `flags`. */
function encodeScrape(snap: ScrapeSnapshot, format: ScrapeFormat, minRequestInterval: number): Promise<Buffer> {
  const { hashes, complete, incomplete } = snap;
  switch (format) {
    case 'ben':
      return encodeBencoded(snap, minRequestInterval);
    case 'bin':
      return encodeEntries(snap, (out, at, k) => {
        hashes.copy(out, at, k * 20, k * 20 + 20);
        out.writeUInt32BE(complete[k], at + 20);
        out.writeUInt32BE(incomplete[k], at + 24);
        return at + 28;
      });
    case 'txt':
      return encodeEntries(snap, (out, at, k) => {
        at = putHex(out, at, hashes, k * 20);
        return endLine(out, putFigure(out, putFigure(out, at, complete[k]), incomplete[k]));
      });
    case 'txtp':
      return encodeEntries(snap, (out, at, k) => {
        at = putFigure(out, putFigure(out, putHex(out, at, hashes, k * 20), complete[k]), incomplete[k]);
        return endLine(out, putFigure(out, at, snap.downloaded[k]));
      });
    case 'url':
      return encodeEntries(snap, (out, at, k) => {
        // Every byte escaped, uppercase (RFC 3986): one fixed width, and any URL decoder gives the hash back.
        for (let b = k * 20; b < k * 20 + 20; b++) {
          out[at++] = PERCENT;
          out[at++] = HEX[hashes[b] >> 4];
          out[at++] = HEX[hashes[b] & 15];
        }
        return endLine(out, putFigure(out, putFigure(out, at, complete[k]), incomplete[k]));
      });
  }
}

/** opentracker's statedump: `HEX40:base:downloaded\n` per torrent, `base` from `baseOf(lastActive)`. */
export function encodeStatedump(snap: ScrapeSnapshot, baseOf: (lastActive: number) => number): Promise<Buffer> {
  return encodeEntries(snap, (out, at, k) => {
    at = putFigure(out, putHex(out, at, snap.hashes, k * 20), baseOf(snap.lastActive[k]));
    return endLine(out, putFigure(out, at, snap.downloaded[k]));
  });
}

function encodeBencoded(snap: ScrapeSnapshot, minRequestInterval: number): Promise<Buffer> {
  const edge = new BencodeWriter(Buffer.alloc(64));
  writeScrapeStart(edge);
  const start = Buffer.from(edge.buf.subarray(0, edge.pos));
  writeScrapeEnd(edge.reset(), minRequestInterval);
  const end = Buffer.from(edge.buf.subarray(0, edge.pos));
  const entry: ScrapeEntry = { complete: 0, downloaded: 0, downloaders: 0, incomplete: 0 };
  let w: BencodeWriter | null = null;
  const body = (out: Buffer, at: number, k: number) => {
    if (w === null || w.buf !== out) w = new BencodeWriter(out);
    entry.complete = snap.complete[k];
    entry.downloaded = snap.downloaded[k];
    entry.downloaders = snap.downloaders[k];
    entry.incomplete = snap.incomplete[k];
    writeScrapeEntry(w.reset(at), snap.hashes, k * 20, entry);
    return w.pos;
  };
  return encodeEntries(snap, body, start, end);
}

/**
 * Writes `start`, then every entry with `write` (which returns the offset after what it wrote), then `end`, into
 * chunks of SLICE entries, yielding to the event loop between chunks.
 */
async function encodeEntries(
  snap: ScrapeSnapshot,
  write: (out: Buffer, at: number, k: number) => number,
  start: Buffer = EMPTY,
  end: Buffer = EMPTY,
): Promise<Buffer> {
  const parts: Buffer[] = [start];
  const chunk = Buffer.allocUnsafe(SLICE * ENTRY_BYTES);
  let at = 0;
  for (let k = 0; k < snap.count; k++) {
    at = write(chunk, at, k);
    if (at > chunk.length - ENTRY_BYTES) {
      parts.push(Buffer.from(chunk.subarray(0, at)));
      at = 0;
      await yieldToLoop();
    }
  }
  parts.push(chunk.subarray(0, at), end);
  return Buffer.concat(parts);
}

const EMPTY = Buffer.alloc(0);
const HEX = Buffer.from('0123456789ABCDEF', 'latin1');
const PERCENT = 0x25;
const COLON = 0x3a;
const NEWLINE = 0x0a;

/** 20 bytes of `src` from `off` as 40 uppercase hex digits. */
function putHex(out: Buffer, at: number, src: Uint8Array, off: number): number {
  for (let b = off; b < off + 20; b++) {
    out[at++] = HEX[src[b] >> 4];
    out[at++] = HEX[src[b] & 15];
  }
  return at;
}

/** `:` then the integer `n` in decimal. */
function putFigure(out: Buffer, at: number, n: number): number {
  out[at++] = COLON;
  return at + out.write(String(n), at, 'latin1');
}

function endLine(out: Buffer, at: number): number {
  out[at] = NEWLINE;
  return at + 1;
}

async function sortByHash(hashes: Buffer, n: number): Promise<Uint32Array> {
  const starts = new Uint32Array(65537);
  for (let i = 0; i < n; i++) starts[((hashes[i * 20] << 8) | hashes[i * 20 + 1]) + 1]++;
  for (let b = 1; b <= 65536; b++) starts[b] += starts[b - 1];
  const fill = starts.slice(0, 65536);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[fill[(hashes[i * 20] << 8) | hashes[i * 20 + 1]]++] = i;
  // buf.compare(target, …, sourceStart, sourceEnd) orders the source (a) against the target (b).
  const cmp = (a: number, b: number) => hashes.compare(hashes, b * 20, b * 20 + 20, a * 20, a * 20 + 20);
  let sinceYield = 0;
  for (let b = 0; b < 65536; b++) {
    const from = starts[b];
    const to = starts[b + 1];
    if (to - from > 1) order.subarray(from, to).sort(cmp);
    sinceYield += to - from;
    if (sinceYield >= SLICE) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
  return order;
}
