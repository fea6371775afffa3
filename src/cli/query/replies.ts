// What a tracker answered, whatever the protocol, and the readers of HTTP replies (decoded bencode). Replies are
// hostile: every field's type and range is checked, and anything else is a MalformedReply naming the field.

import { isIP } from 'node:net';
import type { BDict, BValue } from '../../protocol/bencode.ts';
import { formatIp, isV4Mapped } from '../../protocol/ip.ts';

export type PeerType = 'ipv4' | 'ipv6' | 'ipv4-mapped' | 'hostname';

export interface Peer {
  ip: string;
  port: number;
  type: PeerType;
  /** Hex; only the dictionary model carries peer ids. */
  peerId: string | null;
}

export interface AnnounceInfo {
  failure: string | null;
  warning: string | null;
  interval: number | null;
  minInterval: number | null;
  seeds: number | null;
  leechers: number | null;
  downloaded: number | null;
  externalIp: string | null;
  trackerId: string | null;
  ipv4Peers: number;
  ipv6Peers: number;
  /** Sizes of the compact peer strings (`peers`, `peers6`, or a UDP reply's peers). */
  ipv4Bytes: number;
  ipv6Bytes: number;
  peers: Peer[];
}

export interface TorrentCounts {
  infoHash: string;
  complete: number;
  incomplete: number;
  /** UDP always has it; BEP 48 makes it optional over HTTP. */
  downloaded: number | null;
  name: string | null;
}

export interface ScrapeInfo {
  failure: string | null;
  minRequestInterval: number | null;
  torrents: TorrentCounts[];
}

export class MalformedReply extends Error {
  override name = 'MalformedReply';
  constructor(reason: string) {
    super(`malformed reply: ${reason}`);
  }
}

export function emptyAnnounce(failure: string | null = null): AnnounceInfo {
  return {
    failure,
    warning: null,
    interval: null,
    minInterval: null,
    seeds: null,
    leechers: null,
    downloaded: null,
    externalIp: null,
    trackerId: null,
    ipv4Peers: 0,
    ipv6Peers: 0,
    ipv4Bytes: 0,
    ipv6Bytes: 0,
    peers: [],
  };
}

export function emptyScrape(failure: string | null = null): ScrapeInfo {
  return { failure, minRequestInterval: null, torrents: [] };
}

/** Compact peers (BEP 23 / BEP 7): 6 bytes each for IPv4, 18 for IPv6. The caller checked the length. */
export function compactPeers(bytes: Uint8Array, size: 6 | 18): Peer[] {
  const peers: Peer[] = [];
  const addressLength = size - 2;
  for (let at = 0; at + size <= bytes.length; at += size) {
    const mapped = size === 18 && isV4Mapped(bytes, at);
    peers.push({
      ip: mapped ? `::ffff:${formatIp(bytes, at + 12, 4)}` : formatIp(bytes, at, addressLength),
      port: (bytes[at + addressLength] << 8) | bytes[at + addressLength + 1],
      type: size === 6 ? 'ipv4' : mapped ? 'ipv4-mapped' : 'ipv6',
      peerId: null,
    });
  }
  return peers;
}

export function readAnnounceReply(value: BValue): AnnounceInfo {
  const reply = dictionary(value, 'the reply');
  const info = emptyAnnounce(text(reply, 'failure reason'));
  info.warning = text(reply, 'warning message');
  info.interval = count(reply, 'interval');
  info.minInterval = count(reply, 'min interval');
  info.seeds = count(reply, 'complete');
  info.leechers = count(reply, 'incomplete');
  info.downloaded = count(reply, 'downloaded');
  info.externalIp = externalIp(reply);
  info.trackerId = text(reply, 'tracker id');
  if (info.failure !== null) return info;
  if (info.interval === null) throw new MalformedReply("no 'interval' and no 'failure reason'");

  const peers = reply.peers;
  if (peers instanceof Uint8Array) {
    info.ipv4Bytes = compactLength(peers, 'peers', 6);
    info.peers.push(...compactPeers(peers, 6));
  } else if (Array.isArray(peers)) {
    info.peers.push(...peers.map(dictionaryPeer));
  } else if (peers !== undefined) {
    throw new MalformedReply("'peers' is neither a byte string nor a list");
  }
  const peers6 = reply.peers6;
  if (peers6 !== undefined) {
    if (!(peers6 instanceof Uint8Array)) throw new MalformedReply("'peers6' is not a byte string");
    info.ipv6Bytes = compactLength(peers6, 'peers6', 18);
    info.peers.push(...compactPeers(peers6, 18));
  }
  countFamilies(info);
  return info;
}

/** Peers of an IPv4 address count as IPv4 and the rest as IPv6; host names (dictionary model) as neither. */
export function countFamilies(info: AnnounceInfo): void {
  info.ipv4Peers = info.peers.filter((p) => p.type === 'ipv4').length;
  info.ipv6Peers = info.peers.filter((p) => p.type === 'ipv6' || p.type === 'ipv4-mapped').length;
}

export function readScrapeReply(value: BValue): ScrapeInfo {
  const reply = dictionary(value, 'the reply');
  const info = emptyScrape(text(reply, 'failure reason'));
  if (reply.flags !== undefined)
    info.minRequestInterval = count(dictionary(reply.flags, "'flags'"), 'min_request_interval');
  if (info.failure !== null) return info;
  if (reply.files === undefined) throw new MalformedReply("no 'files' and no 'failure reason'");
  const files = dictionary(reply.files, "'files'");
  for (const key of Object.keys(files)) {
    const hash = Buffer.from(key, 'latin1');
    if (hash.length !== 20) throw new MalformedReply(`a key of 'files' is ${hash.length} bytes, not a 20-byte hash`);
    const where = `the entry of ${hash.toString('hex')}`;
    const entry = dictionary(files[key], where);
    info.torrents.push({
      infoHash: hash.toString('hex'),
      complete: required(count(entry, 'complete'), 'complete', where),
      incomplete: required(count(entry, 'incomplete'), 'incomplete', where),
      downloaded: count(entry, 'downloaded'),
      name: text(entry, 'name'),
    });
  }
  return info;
}

function dictionary(value: BValue, what: string): BDict {
  if (typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) {
    throw new MalformedReply(`${what} is not a dictionary`);
  }
  return value;
}

function text(dict: BDict, key: string): string | null {
  const value = dict[key];
  if (value === undefined) return null;
  if (!(value instanceof Uint8Array)) throw new MalformedReply(`'${key}' is not a byte string`);
  return Buffer.from(value).toString('utf8');
}

function count(dict: BDict, key: string): number | null {
  const value = dict[key];
  if (value === undefined) return null;
  if (typeof value !== 'number' || value < 0) throw new MalformedReply(`'${key}' is not a whole number from 0 to 2^53`);
  return value;
}

function required(value: number | null, key: string, where: string): number {
  if (value === null) throw new MalformedReply(`no '${key}' in ${where}`);
  return value;
}

/** BEP 24 says 4 or 16 bytes; some trackers send the address as text instead, which is as clear. */
function externalIp(dict: BDict): string | null {
  const value = dict['external ip'];
  if (value === undefined) return null;
  if (value instanceof Uint8Array) {
    if (value.length === 4 || value.length === 16) return formatIp(value, 0, value.length);
    const asText = Buffer.from(value).toString('latin1');
    if (isIP(asText) !== 0) return asText;
  }
  throw new MalformedReply("'external ip' is neither 4 nor 16 bytes nor an address");
}

function compactLength(bytes: Uint8Array, key: string, size: number): number {
  if (bytes.length % size !== 0)
    throw new MalformedReply(`'${key}' is ${bytes.length} bytes, not a multiple of ${size}`);
  return bytes.length;
}

function dictionaryPeer(value: BValue, index: number): Peer {
  const where = `peer ${index + 1}`;
  const peer = dictionary(value, where);
  const ip = text(peer, 'ip');
  const port = count(peer, 'port');
  if (ip === null) throw new MalformedReply(`no 'ip' in ${where}`);
  if (port === null || port > 65535) throw new MalformedReply(`no 'port' from 0 to 65535 in ${where}`);
  const id = peer['peer id'];
  if (id !== undefined && !(id instanceof Uint8Array))
    throw new MalformedReply(`'peer id' of ${where} is not a byte string`);
  const family = isIP(ip);
  const mapped = family === 6 && /^::ffff:\d/i.test(ip);
  return {
    ip,
    port,
    type: family === 4 ? 'ipv4' : family === 0 ? 'hostname' : mapped ? 'ipv4-mapped' : 'ipv6',
    peerId: id === undefined ? null : Buffer.from(id).toString('hex'),
  };
}
