// Parameters of HTTP announce (BEP 3, 7, 21, 23) and scrape (BEP 48) queries, parsed from raw bytes.
// Every function is total: bad input yields a failure reason for the client, never an exception.

import {
  type AnnounceRequest,
  EVENT_COMPLETED,
  EVENT_NONE,
  EVENT_PAUSED,
  EVENT_STARTED,
  EVENT_STOPPED,
  HASH_LENGTH,
  PEER_ID_LENGTH,
  resetAnnounceRequest,
} from './announce.ts';
import { parseIPv4, parseIPv6 } from './ip.ts';
import { ascii, bytesEqual, parseDecimal, percentDecode, QueryCursor } from './query.ts';

const K_INFO_HASH = ascii('info_hash');
const K_PEER_ID = ascii('peer_id');
const K_PORT = ascii('port');
const K_UPLOADED = ascii('uploaded');
const K_DOWNLOADED = ascii('downloaded');
const K_LEFT = ascii('left');
const K_EVENT = ascii('event');
const K_NUMWANT = ascii('numwant');
const K_COMPACT = ascii('compact');
const K_IP = ascii('ip');
/** Room for the longest IPv6 text (with an IPv4 tail) and then some. */
const IP_TEXT_MAX = 64;
const ipText = Buffer.alloc(IP_TEXT_MAX);
/** The hot path's one query cursor (a request is parsed to the end before the next begins). */
const cursor = new QueryCursor();

const EVENTS: ReadonlyArray<[Uint8Array, number]> = [
  [ascii('started'), EVENT_STARTED],
  [ascii('completed'), EVENT_COMPLETED],
  [ascii('stopped'), EVENT_STOPPED],
  [ascii('paused'), EVENT_PAUSED],
  [ascii('empty'), EVENT_NONE], // BEP 3: "empty" is the same as no event
];

/** The longest decimal a numeric parameter may carry (a 64-bit value, sign included). */
const MAX_NUMBER_TEXT = 21;

/**
 * Parses announce parameters into `req`. Returns null when the request is usable, else the failure reason to send.
 * Unknown parameters (key, trackerid, corrupt, supportcrypto, …) are accepted and ignored.
 */
export function parseAnnounceParams(src: Uint8Array, start: number, end: number, req: AnnounceRequest): string | null {
  resetAnnounceRequest(req);
  let haveHash = false;
  let havePeerId = false;
  let havePort = false;
  const q = cursor.reset(src, start, end);
  while (q.next()) {
    const ks = q.keyStart;
    const ke = q.keyEnd;
    const vs = q.valueStart;
    // By length first: most keys are told apart without reading them, and only a candidate's bytes are compared.
    switch (ke - ks) {
      case 9:
        if (bytesEqual(src, ks, ke, K_INFO_HASH)) {
          if (haveHash) return 'info_hash given more than once';
          if (q.decodeValue(req.infoHash, 0, HASH_LENGTH) !== HASH_LENGTH) {
            return 'invalid info_hash: it must be 20 bytes, percent-encoded';
          }
          haveHash = true;
        }
        break;
      case 7:
        if (bytesEqual(src, ks, ke, K_PEER_ID)) {
          if (q.decodeValue(req.peerId, 0, PEER_ID_LENGTH) !== PEER_ID_LENGTH) {
            return 'invalid peer_id: it must be 20 bytes, percent-encoded';
          }
          havePeerId = true;
        } else if (bytesEqual(src, ks, ke, K_COMPACT)) {
          req.compact = !(q.valueEnd() - vs === 1 && src[vs] === 0x30);
        } else if (bytesEqual(src, ks, ke, K_NUMWANT)) {
          const ve = q.valueEnd();
          const n = ve - vs <= MAX_NUMBER_TEXT ? parseDecimal(src, vs, ve) : Number.NaN;
          if (Number.isNaN(n)) return 'invalid numwant: it must be a number';
          req.numwant = n < 0 ? -1 : n;
        }
        break;
      case 4:
        if (bytesEqual(src, ks, ke, K_PORT)) {
          const port = parseDecimal(src, vs, q.valueEnd());
          if (!(port >= 1 && port <= 65535)) return 'invalid port: it must be a number from 1 to 65535';
          req.port = port;
          havePort = true;
        } else if (bytesEqual(src, ks, ke, K_LEFT)) {
          req.left = numberParam(src, vs, q.valueEnd());
          if (req.left < 0) return 'invalid left: it must be a non-negative number';
        }
        break;
      case 8:
        if (bytesEqual(src, ks, ke, K_UPLOADED)) {
          req.uploaded = numberParam(src, vs, q.valueEnd());
          if (req.uploaded < 0) return 'invalid uploaded: it must be a non-negative number';
        }
        break;
      case 10:
        if (bytesEqual(src, ks, ke, K_DOWNLOADED)) {
          req.downloaded = numberParam(src, vs, q.valueEnd());
          if (req.downloaded < 0) return 'invalid downloaded: it must be a non-negative number';
        }
        break;
      case 5:
        if (bytesEqual(src, ks, ke, K_EVENT)) {
          const event = eventParam(src, vs, q.valueEnd());
          if (event < 0) return 'invalid event: use started, completed, stopped or paused';
          req.event = event;
        }
        break;
      case 2:
        if (bytesEqual(src, ks, ke, K_IP)) {
          // Parsed whatever the tracker does with it; only --ip-from-query uses it (and refuses a bad one).
          req.ipLength = ipParam(src, vs, q.valueEnd(), req.ip);
        }
        break;
    }
  }
  if (!haveHash) return 'missing info_hash';
  if (!havePeerId) return 'missing peer_id';
  if (!havePort) return 'missing port';
  return null;
}

function numberParam(src: Uint8Array, start: number, end: number): number {
  if (end - start > MAX_NUMBER_TEXT) return -1;
  const n = parseDecimal(src, start, end);
  return Number.isNaN(n) ? -1 : n;
}

/** Decodes an `ip=` value into `out`: 4 or 16 bytes written, or -1 when it is not an IPv4 or IPv6 address. */
function ipParam(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const n = percentDecode(src, start, end, ipText, 0, IP_TEXT_MAX);
  if (n <= 0) return -1;
  const text = ipText.toString('latin1', 0, n);
  if (parseIPv4(text, out, 0)) return 4;
  if (!text.includes('%') && parseIPv6(text, out, 0)) return 16;
  return -1;
}

function eventParam(src: Uint8Array, start: number, end: number): number {
  if (end === start) return EVENT_NONE;
  for (const [name, event] of EVENTS) if (bytesEqual(src, start, end, name)) return event;
  return -1;
}

export interface ScrapeHashes {
  /** Room for `max` hashes of 20 bytes, packed. */
  hashes: Buffer;
  count: number;
}

export function createScrapeHashes(max: number): ScrapeHashes {
  return { hashes: Buffer.alloc(max * HASH_LENGTH), count: 0 };
}

/**
 * Collects every `info_hash` of a scrape query into `out` (at most `max`).
 * Returns null when usable, else the failure reason. Zero hashes is a full-scrape request, which the caller decides on.
 */
export function parseScrapeParams(
  src: Uint8Array,
  start: number,
  end: number,
  max: number,
  out: ScrapeHashes,
): string | null {
  out.count = 0;
  const q = cursor.reset(src, start, end);
  while (q.next()) {
    if (!bytesEqual(src, q.keyStart, q.keyEnd, K_INFO_HASH)) continue;
    if (out.count >= max) return `too many info_hash values: at most ${max} per scrape`;
    if (q.decodeValue(out.hashes, out.count * HASH_LENGTH, HASH_LENGTH) !== HASH_LENGTH) {
      return 'invalid info_hash: it must be 20 bytes, percent-encoded';
    }
    out.count++;
  }
  return null;
}
