// Bencoded bodies of HTTP tracker replies. Keys are written in sorted order, as canonical bencode requires.

import { type BencodeWriter, encodeKey } from './bencode.ts';
import { formatIp } from './ip.ts';

const K_COMPLETE = encodeKey('complete');
const K_DOWNLOADED = encodeKey('downloaded');
const K_DOWNLOADERS = encodeKey('downloaders');
const K_EXTERNAL_IP = encodeKey('external ip');
const K_FAILURE = encodeKey('failure reason');
const K_RETRY_IN = encodeKey('retry in');
const K_FILES = encodeKey('files');
const K_FLAGS = encodeKey('flags');
const K_INCOMPLETE = encodeKey('incomplete');
const K_INTERVAL = encodeKey('interval');
const K_IP = encodeKey('ip');
const K_MIN_INTERVAL = encodeKey('min interval');
const K_MIN_REQUEST_INTERVAL = encodeKey('min_request_interval');
const K_PEERS = encodeKey('peers');
const K_PEERS6 = encodeKey('peers6');
const K_PORT = encodeKey('port');
const K_TRACKER_ID = encodeKey('tracker id');

/**
 * The peers of one family chosen for a reply: `count` compact endpoints of `size` bytes (6 for IPv4, 18 for IPv6), in
 * `runCount` runs of consecutive slots of `endpoints`, run r being the `runs[2r + 1]` endpoints from slot `runs[2r]`
 * (slot s at `endpoints[s * size, (s + 1) * size)`). `endpoints` is the store's own memory, so a reply copies each
 * run once, straight into the bytes that are sent.
 */
export interface PeerChoice {
  endpoints: Buffer;
  runs: Int32Array;
  runCount: number;
  count: number;
}

export interface PeerLists {
  v4: PeerChoice;
  v6: PeerChoice;
}

/**
 * Copies the compact endpoints of `choice` (`size` bytes each: 6 or 18) to `dst` from `at`; returns the offset after
 * them. One Buffer copy per run: a memory copy, with no view object made.
 */
export function copyPeers(choice: PeerChoice, size: number, dst: Uint8Array, at: number): number {
  const { endpoints, runs, runCount } = choice;
  for (let r = 0; r < runCount; r++) {
    const from = runs[2 * r] * size;
    at += endpoints.copy(dst, at, from, from + runs[2 * r + 1] * size);
  }
  return at;
}

export interface AnnounceReply {
  complete: number;
  incomplete: number;
  downloaded: number;
  interval: number;
  minInterval: number;
  /** The requester's address as 4 or 16 bytes (BEP 24). */
  externalIp: Uint8Array;
  externalIpLength: number;
  /** '' to leave `tracker id` out. */
  trackerId: string;
  peers: PeerLists;
}

export function writeFailure(w: BencodeWriter, reason: string): void {
  w.dict().raw(K_FAILURE).text(reason).end();
}

/** A refusal the client should retry later: `failure reason` and BEP 31's `retry in`, in minutes. */
export function writeRetryLater(w: BencodeWriter, reason: string, minutes: number): void {
  w.dict().raw(K_FAILURE).text(reason).raw(K_RETRY_IN).int(minutes).end();
}

/** BEP 23 compact reply: `peers` (6 bytes each) and, when there are IPv6 peers, `peers6` (18 bytes each, BEP 7). */
export function writeAnnounce(w: BencodeWriter, r: AnnounceReply, compact: boolean): void {
  w.dict();
  w.raw(K_COMPLETE).int(r.complete);
  w.raw(K_DOWNLOADED).int(r.downloaded);
  w.raw(K_EXTERNAL_IP).bytes(r.externalIp, 0, r.externalIpLength);
  w.raw(K_INCOMPLETE).int(r.incomplete);
  w.raw(K_INTERVAL).int(r.interval);
  w.raw(K_MIN_INTERVAL).int(r.minInterval);
  const p = r.peers;
  if (compact) {
    w.raw(K_PEERS);
    copyPeers(p.v4, 6, w.buf, w.reserveBytes(p.v4.count * 6));
    if (p.v6.count > 0) {
      w.raw(K_PEERS6);
      copyPeers(p.v6, 18, w.buf, w.reserveBytes(p.v6.count * 18));
    }
  } else {
    w.raw(K_PEERS).list();
    writePeerDicts(w, p.v4, 4);
    writePeerDicts(w, p.v6, 16);
    w.end();
  }
  if (r.trackerId !== '') w.raw(K_TRACKER_ID).text(r.trackerId);
  w.end();
}

/**
 * The dictionary model of BEP 3, one per peer of `choice` (`addressLength` 4 or 16, then 2 bytes of port): `ip` (text)
 * and `port`, always without `peer id` (as if no_peer_id=1): peer ids are not stored, which keeps a peer at a few
 * bytes; clients check the id in the peer handshake, not from the tracker.
 */
function writePeerDicts(w: BencodeWriter, choice: PeerChoice, addressLength: number): void {
  const { endpoints: src, runs, runCount } = choice;
  const size = addressLength + 2;
  for (let r = 0; r < runCount; r++) {
    for (let slot = runs[2 * r], end = slot + runs[2 * r + 1]; slot < end; slot++) {
      const at = slot * size;
      w.dict();
      w.raw(K_IP).text(formatIp(src, at, addressLength));
      w.raw(K_PORT).int((src[at + addressLength] << 8) | src[at + addressLength + 1]);
      w.end();
    }
  }
}

/** Per-torrent scrape figures (BEP 48, with `downloaders` from BEP 21). */
export interface ScrapeEntry {
  complete: number;
  downloaded: number;
  downloaders: number;
  incomplete: number;
}

export const SCRAPE_ENTRY_MAX_SIZE = 20 + 3 + 90 + 4 * 14;

export function writeScrapeStart(w: BencodeWriter): void {
  w.dict().raw(K_FILES).dict();
}

/** One `files` entry; hashes must be written in ascending byte order and only once. */
export function writeScrapeEntry(w: BencodeWriter, hash: Uint8Array, hashOff: number, e: ScrapeEntry): void {
  w.bytes(hash, hashOff, hashOff + 20).dict();
  w.raw(K_COMPLETE).int(e.complete);
  w.raw(K_DOWNLOADED).int(e.downloaded);
  w.raw(K_DOWNLOADERS).int(e.downloaders);
  w.raw(K_INCOMPLETE).int(e.incomplete);
  w.end();
}

export function writeScrapeEnd(w: BencodeWriter, minRequestInterval: number): void {
  w.end();
  w.raw(K_FLAGS).dict().raw(K_MIN_REQUEST_INTERVAL).int(minRequestInterval).end();
  w.end();
}
