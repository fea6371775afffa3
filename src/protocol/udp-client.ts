// The client side of the UDP tracker protocol (BEP 15): the requests a client sends, and the tracker's replies read
// field by field. Pure, no sockets (udp.ts is the server side). A reply is hostile input: decodeUdpReply() returns a
// `malformed` value for anything it cannot read and never throws.

import { HASH_LENGTH, PEER_ID_LENGTH } from './announce.ts';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ACTION_ERROR,
  ACTION_SCRAPE,
  ANNOUNCE_REPLY_HEADER_SIZE,
  ANNOUNCE_REQUEST_SIZE,
  CONNECT_REQUEST_SIZE,
  MAX_SCRAPE_HASHES,
  SCRAPE_ENTRY_SIZE,
} from './udp.ts';

const PROTOCOL_ID = 0x41727101980n;
export const CONNECTION_ID_LENGTH = 8;
const REPLY_HEADER_SIZE = 8;

export interface UdpAnnounceFields {
  connectionId: Uint8Array;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  downloaded: number;
  left: number;
  uploaded: number;
  /** BEP 15's numbers: EVENT_NONE … EVENT_STOPPED from announce.ts. */
  event: number;
  key: number;
  /** -1 lets the tracker choose. */
  numWant: number;
  port: number;
}

export function encodeConnect(transactionId: number): Uint8Array {
  const out = new Uint8Array(CONNECT_REQUEST_SIZE);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, PROTOCOL_ID);
  view.setUint32(8, ACTION_CONNECT);
  view.setUint32(12, transactionId);
  return out;
}

/** A 98-byte announce; the IPv4 address field is 0 (the tracker takes the source address). */
export function encodeAnnounce(f: UdpAnnounceFields): Uint8Array {
  checkLength('connection id', f.connectionId, CONNECTION_ID_LENGTH);
  checkLength('info hash', f.infoHash, HASH_LENGTH);
  checkLength('peer id', f.peerId, PEER_ID_LENGTH);
  const out = new Uint8Array(ANNOUNCE_REQUEST_SIZE);
  const view = new DataView(out.buffer);
  out.set(f.connectionId, 0);
  view.setUint32(8, ACTION_ANNOUNCE);
  view.setUint32(12, f.transactionId);
  out.set(f.infoHash, 16);
  out.set(f.peerId, 36);
  view.setBigUint64(56, BigInt(f.downloaded));
  view.setBigUint64(64, BigInt(f.left));
  view.setBigUint64(72, BigInt(f.uploaded));
  view.setUint32(80, f.event);
  view.setUint32(84, 0);
  view.setUint32(88, f.key);
  view.setInt32(92, f.numWant);
  view.setUint16(96, f.port);
  return out;
}

/** A scrape of 1 to MAX_SCRAPE_HASHES hashes (more would not fit the reply into one datagram). */
export function encodeScrape(connectionId: Uint8Array, transactionId: number, hashes: Uint8Array[]): Uint8Array {
  checkLength('connection id', connectionId, CONNECTION_ID_LENGTH);
  if (hashes.length === 0 || hashes.length > MAX_SCRAPE_HASHES) {
    throw new RangeError(`a UDP scrape takes 1 to ${MAX_SCRAPE_HASHES} hashes, not ${hashes.length}`);
  }
  const out = new Uint8Array(CONNECT_REQUEST_SIZE + HASH_LENGTH * hashes.length);
  const view = new DataView(out.buffer);
  out.set(connectionId, 0);
  view.setUint32(8, ACTION_SCRAPE);
  view.setUint32(12, transactionId);
  hashes.forEach((hash, i) => {
    checkLength('info hash', hash, HASH_LENGTH);
    out.set(hash, CONNECT_REQUEST_SIZE + HASH_LENGTH * i);
  });
  return out;
}

function checkLength(what: string, bytes: Uint8Array, length: number): void {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, not ${bytes.length}`);
}

export interface UdpScrapeCounts {
  seeders: number;
  completed: number;
  leechers: number;
}

export type UdpReply =
  | { action: 'connect'; transactionId: number; connectionId: Uint8Array }
  | {
      action: 'announce';
      transactionId: number;
      interval: number;
      leechers: number;
      seeders: number;
      /** Compact peers, a whole number of `peerSize` entries. */
      peers: Uint8Array;
    }
  | { action: 'scrape'; transactionId: number; entries: UdpScrapeCounts[] }
  | { action: 'error'; transactionId: number; message: string }
  /** Not a reply that can be read; `transactionId` is null when the datagram is too short to carry one. */
  | { action: 'malformed'; transactionId: number | null; reason: string };

/**
 * Reads a datagram from a tracker. `peerSize` is 6 on an IPv4 socket and 18 on an IPv6 one (BEP 15 gives the peer
 * format by the address family the announce came over).
 */
export function decodeUdpReply(datagram: Uint8Array, peerSize: 6 | 18): UdpReply {
  if (datagram.length < REPLY_HEADER_SIZE) {
    return { action: 'malformed', transactionId: null, reason: `${datagram.length}-byte datagram, less than a header` };
  }
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const action = view.getUint32(0);
  const transactionId = view.getUint32(4);
  const malformed = (reason: string): UdpReply => ({ action: 'malformed', transactionId, reason });
  switch (action) {
    case ACTION_CONNECT:
      if (datagram.length < CONNECT_REQUEST_SIZE) return malformed(`${datagram.length}-byte connect reply`);
      return { action: 'connect', transactionId, connectionId: datagram.slice(8, 16) };
    case ACTION_ANNOUNCE: {
      if (datagram.length < ANNOUNCE_REPLY_HEADER_SIZE) return malformed(`${datagram.length}-byte announce reply`);
      const peers = datagram.slice(ANNOUNCE_REPLY_HEADER_SIZE);
      if (peers.length % peerSize !== 0) {
        return malformed(`${peers.length} bytes of peers, not a multiple of ${peerSize}`);
      }
      return {
        action: 'announce',
        transactionId,
        interval: view.getUint32(8),
        leechers: view.getUint32(12),
        seeders: view.getUint32(16),
        peers,
      };
    }
    case ACTION_SCRAPE: {
      const body = datagram.length - REPLY_HEADER_SIZE;
      if (body % SCRAPE_ENTRY_SIZE !== 0) {
        return malformed(`${body} bytes of scrape entries, not a multiple of ${SCRAPE_ENTRY_SIZE}`);
      }
      const entries: UdpScrapeCounts[] = [];
      for (let at = REPLY_HEADER_SIZE; at < datagram.length; at += SCRAPE_ENTRY_SIZE) {
        entries.push({
          seeders: view.getUint32(at),
          completed: view.getUint32(at + 4),
          leechers: view.getUint32(at + 8),
        });
      }
      return { action: 'scrape', transactionId, entries };
    }
    case ACTION_ERROR:
      return {
        action: 'error',
        transactionId,
        message: Buffer.from(datagram.subarray(REPLY_HEADER_SIZE)).toString('utf8'),
      };
    default:
      return malformed(`unknown action ${action}`);
  }
}
