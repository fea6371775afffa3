// The UDP tracker protocol (BEP 15) with BEP 41 options: parse requests, write replies. Pure, no sockets.

import { type AnnounceRequest, EVENT_NONE, EVENT_STOPPED, HASH_LENGTH, resetAnnounceRequest } from './announce.ts';

export const ACTION_CONNECT = 0;
export const ACTION_ANNOUNCE = 1;
export const ACTION_SCRAPE = 2;
export const ACTION_ERROR = 3;

/** The connect request's magic, 0x41727101980, as two 32-bit halves. */
const PROTOCOL_ID_HI = 0x417;
const PROTOCOL_ID_LO = 0x27101980;

export const CONNECT_REQUEST_SIZE = 16;
export const ANNOUNCE_REQUEST_SIZE = 98;
export const ANNOUNCE_REPLY_HEADER_SIZE = 20;
export const SCRAPE_ENTRY_SIZE = 12;
/** BEP 15: "up to about 74 torrents can be scraped at once" — keeps both datagrams under common MTUs. */
export const MAX_SCRAPE_HASHES = 74;

/** What parseUdpRequest found; `action` is -1 for a datagram to drop without a reply. */
export interface UdpRequest {
  action: number;
  transactionId: number;
  connectionIdHi: number;
  connectionIdLo: number;
  /** Scrape: offset of the first hash in the datagram, and how many whole hashes follow (capped at 74). */
  scrapeOffset: number;
  scrapeCount: number;
  /** Why an announce or scrape was refused although its header was readable; '' when it was not. */
  error: string;
  announce: AnnounceRequest;
}

export function createUdpRequest(announce: AnnounceRequest): UdpRequest {
  return {
    action: -1,
    transactionId: 0,
    connectionIdHi: 0,
    connectionIdLo: 0,
    scrapeOffset: 0,
    scrapeCount: 0,
    error: '',
    announce,
  };
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function i32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

function u64AsNumber(b: Uint8Array, o: number): number {
  return u32(b, o) * 0x100000000 + u32(b, o + 4);
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/**
 * Parses a datagram of `length` bytes. Datagrams too short to carry a transaction id, connects without the magic and
 * unknown actions get action -1 (dropped: answering them would make the tracker a reflector).
 */
export function parseUdpRequest(buf: Uint8Array, length: number, req: UdpRequest): void {
  req.action = -1;
  req.error = '';
  if (length < CONNECT_REQUEST_SIZE) return;
  const action = u32(buf, 8);
  req.transactionId = u32(buf, 12);
  req.connectionIdHi = u32(buf, 0);
  req.connectionIdLo = u32(buf, 4);
  if (action === ACTION_CONNECT) {
    if (req.connectionIdHi === PROTOCOL_ID_HI && req.connectionIdLo === PROTOCOL_ID_LO) req.action = ACTION_CONNECT;
  } else if (action === ACTION_ANNOUNCE) {
    req.action = ACTION_ANNOUNCE;
    if (length < ANNOUNCE_REQUEST_SIZE) req.error = 'announce too short';
    else parseAnnounce(buf, length, req.announce);
  } else if (action === ACTION_SCRAPE) {
    req.action = ACTION_SCRAPE;
    req.scrapeOffset = CONNECT_REQUEST_SIZE;
    req.scrapeCount = Math.min(Math.floor((length - CONNECT_REQUEST_SIZE) / HASH_LENGTH), MAX_SCRAPE_HASHES);
    if (req.scrapeCount === 0) req.error = 'scrape without info_hash';
  }
}

function parseAnnounce(buf: Uint8Array, length: number, a: AnnounceRequest): void {
  resetAnnounceRequest(a);
  for (let k = 0; k < 20; k++) {
    a.infoHash[k] = buf[16 + k];
    a.peerId[k] = buf[36 + k];
  }
  a.downloaded = u64AsNumber(buf, 56);
  a.left = u64AsNumber(buf, 64);
  a.uploaded = u64AsNumber(buf, 72);
  const event = u32(buf, 80);
  a.event = event <= EVENT_STOPPED ? event : EVENT_NONE;
  // Offset 84 is the client's claimed IPv4 address: ignored, the source address is the peer's address.
  const numwant = i32(buf, 92);
  a.numwant = numwant < 0 ? -1 : numwant;
  a.port = (buf[96] << 8) | buf[97];
  a.urlData = length > ANNOUNCE_REQUEST_SIZE ? parseOptions(buf, ANNOUNCE_REQUEST_SIZE, length) : '';
}

const OPTION_END = 0;
const OPTION_NOP = 1;
const OPTION_URL_DATA = 2;

/**
 * BEP 41 options: 0 ends the list, 1 is padding, 2 carries a length byte and URL data (concatenated across options).
 * Unknown option types carry a length byte and are skipped. A truncated option ends parsing; nothing is refused.
 */
export function parseOptions(buf: Uint8Array, start: number, end: number): string {
  let url = '';
  let i = start;
  while (i < end) {
    const type = buf[i++];
    if (type === OPTION_END) break;
    if (type === OPTION_NOP) continue;
    if (i >= end) break;
    const len = buf[i++];
    if (i + len > end) break;
    if (type === OPTION_URL_DATA) url += Buffer.from(buf.buffer, buf.byteOffset + i, len).toString('latin1');
    i += len;
  }
  return url;
}

export function writeConnectReply(out: Uint8Array, transactionId: number, idHi: number, idLo: number): number {
  writeU32(out, 0, ACTION_CONNECT);
  writeU32(out, 4, transactionId);
  writeU32(out, 8, idHi);
  writeU32(out, 12, idLo);
  return CONNECT_REQUEST_SIZE;
}

/** Writes the 20-byte announce reply header; compact peers follow at offset 20. */
export function writeAnnounceHeader(
  out: Uint8Array,
  transactionId: number,
  interval: number,
  leechers: number,
  seeders: number,
): number {
  writeU32(out, 0, ACTION_ANNOUNCE);
  writeU32(out, 4, transactionId);
  writeU32(out, 8, interval);
  writeU32(out, 12, leechers);
  writeU32(out, 16, seeders);
  return ANNOUNCE_REPLY_HEADER_SIZE;
}

export function writeScrapeHeader(out: Uint8Array, transactionId: number): number {
  writeU32(out, 0, ACTION_SCRAPE);
  writeU32(out, 4, transactionId);
  return 8;
}

export function writeScrapeEntry(out: Uint8Array, at: number, seeders: number, completed: number, leechers: number) {
  writeU32(out, at, seeders);
  writeU32(out, at + 4, completed);
  writeU32(out, at + 8, leechers);
  return at + SCRAPE_ENTRY_SIZE;
}

/**
 * Writes an error reply whose size never exceeds `maxSize` (the request's size, so an error is no amplifier):
 * the message is cut to fit, and nothing is written (0) when not even the 8-byte header fits.
 * BEP 15 gives no terminator; the message runs to the end of the datagram.
 */
export function writeError(out: Uint8Array, transactionId: number, message: string, maxSize: number): number {
  if (maxSize < 8) return 0; // not even the header fits: send nothing
  writeU32(out, 0, ACTION_ERROR);
  writeU32(out, 4, transactionId);
  const n = Math.min(message.length, maxSize - 8);
  for (let i = 0; i < n; i++) out[8 + i] = message.charCodeAt(i) & 0x7f;
  return 8 + n;
}
