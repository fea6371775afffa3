// The full scrape: every torrent's figures in one canonical bencoded dictionary. It is built in slices that yield
// to the event loop, so announces keep flowing while a large table is walked, sorted and encoded; requests that
// arrive during a build share it.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { BencodeWriter } from '../protocol/bencode.ts';
import { type ScrapeEntry, writeScrapeEnd, writeScrapeEntry, writeScrapeStart } from '../protocol/http-replies.ts';
import type { SwarmStore } from '../swarm/store.ts';

const gzip = promisify(gzipCallback);

/** Torrents handled between two yields to the event loop. */
const SLICE = 8192;
/** Bytes one encoded entry can take, with room to spare. */
const ENTRY_BYTES = 160;

export interface FullScrapeBody {
  plain: Buffer;
  gzipped(): Promise<Buffer>;
}

export class FullScrape {
  private readonly store: SwarmStore;
  private readonly minRequestInterval: number;
  private inFlight: Promise<FullScrapeBody> | null = null;

  constructor(store: SwarmStore, minRequestInterval: number) {
    this.store = store;
    this.minRequestInterval = minRequestInterval;
  }

  /** The current full scrape; concurrent callers share one build. */
  body(): Promise<FullScrapeBody> {
    this.inFlight ??= this.build().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async build(): Promise<FullScrapeBody> {
    const store = this.store;
    // 1. Snapshot hashes and figures, a slice at a time.
    const limit = store.idLimit;
    const hashes = Buffer.allocUnsafe(limit * 20);
    const figures = new Uint32Array(limit * 4);
    let n = 0;
    for (let tid = 0; tid < limit; tid++) {
      if (tid % SLICE === SLICE - 1) await yieldToLoop();
      if (tid >= store.idLimit || !store.isAlive(tid)) continue;
      store.copyHash(tid, hashes, n * 20);
      figures[n * 4] = store.complete(tid);
      figures[n * 4 + 1] = store.downloaded(tid);
      figures[n * 4 + 2] = store.downloaders(tid);
      figures[n * 4 + 3] = store.incomplete(tid);
      n++;
    }

    // 2. Order by hash: a counting sort on the first two bytes, then each (small) bucket sorted by its bytes.
    const order = await sortByHash(hashes, n);

    // 3. Encode slice by slice; a torrent dropped and re-created during step 1 shows up twice: keep the first.
    const parts: Buffer[] = [];
    const chunk = Buffer.allocUnsafe(SLICE * ENTRY_BYTES + 64);
    const w = new BencodeWriter(chunk);
    writeScrapeStart(w);
    const entry: ScrapeEntry = { complete: 0, downloaded: 0, downloaders: 0, incomplete: 0 };
    let previous = -1;
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (previous >= 0 && hashes.compare(hashes, i * 20, i * 20 + 20, previous * 20, previous * 20 + 20) === 0) {
        continue;
      }
      previous = i;
      entry.complete = figures[i * 4];
      entry.downloaded = figures[i * 4 + 1];
      entry.downloaders = figures[i * 4 + 2];
      entry.incomplete = figures[i * 4 + 3];
      writeScrapeEntry(w, hashes, i * 20, entry);
      if (w.pos > SLICE * ENTRY_BYTES - ENTRY_BYTES) {
        parts.push(Buffer.from(chunk.subarray(0, w.pos)));
        w.reset();
        await yieldToLoop();
      }
    }
    writeScrapeEnd(w, this.minRequestInterval);
    parts.push(Buffer.from(chunk.subarray(0, w.pos)));
    const plain = Buffer.concat(parts);
    let zipped: Promise<Buffer> | null = null;
    return { plain, gzipped: () => (zipped ??= gzip(plain)) };
  }
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
