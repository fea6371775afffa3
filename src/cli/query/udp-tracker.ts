// BEP 15 over a real socket: resolve the tracker, connect, then one announce or scrape. Requests are sent again every
// few seconds until the overall timeout; only datagrams from the tracker's address with the request's transaction id
// are taken, and any of those that cannot be read ends the query with the reason.

import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { formatHostPort } from '../../config/values.ts';
import { EVENT_COMPLETED, EVENT_NONE, EVENT_STARTED, EVENT_STOPPED } from '../../protocol/announce.ts';
import { formatIp, parseIPv4, parseIPv6 } from '../../protocol/ip.ts';
import {
  decodeUdpReply,
  encodeAnnounce,
  encodeConnect,
  encodeScrape,
  type UdpAnnounceFields,
  type UdpReply,
} from '../../protocol/udp-client.ts';
import type { QueryEvent } from './args.ts';
import { elapsedMs, QueryError, type Transport, timedOut } from './exchange.ts';
import {
  type AnnounceInfo,
  compactPeers,
  countFamilies,
  emptyAnnounce,
  emptyScrape,
  type ScrapeInfo,
} from './replies.ts';

/** Far below BEP 15's 15 s: the tool's whole timeout is 10 s by default, and one lost datagram should not end it. */
const RESEND_MS = 2000;

export const UDP_EVENTS: Record<QueryEvent, number> = {
  none: EVENT_NONE,
  completed: EVENT_COMPLETED,
  started: EVENT_STARTED,
  stopped: EVENT_STOPPED,
};

export type UdpAnnounceRequest = Omit<UdpAnnounceFields, 'connectionId' | 'transactionId' | 'key'>;

interface Session {
  socket: dgram.Socket;
  address: string;
  port: number;
  peerSize: 6 | 18;
}

export async function udpAnnounce(
  host: string,
  port: number,
  request: UdpAnnounceRequest,
  t: Transport,
): Promise<AnnounceInfo> {
  return withSession(host, port, t, async (session) => {
    const connectionId = await connect(session, t);
    if (typeof connectionId === 'string') return emptyAnnounce(connectionId);
    const transactionId = newTransactionId();
    const datagram = encodeAnnounce({ ...request, connectionId, transactionId, key: randomInt(2 ** 32) });
    const reply = await ask(session, datagram, transactionId, 'announce', t);
    if (reply.action === 'error') return emptyAnnounce(reply.message);
    if (reply.action !== 'announce') throw unexpected(reply, 'announce');
    const info = emptyAnnounce();
    info.interval = reply.interval;
    info.seeds = reply.seeders;
    info.leechers = reply.leechers;
    info.peers = compactPeers(reply.peers, session.peerSize);
    if (session.peerSize === 6) info.ipv4Bytes = reply.peers.length;
    else info.ipv6Bytes = reply.peers.length;
    countFamilies(info);
    return info;
  });
}

export async function udpScrape(host: string, port: number, hashes: Uint8Array[], t: Transport): Promise<ScrapeInfo> {
  return withSession(host, port, t, async (session) => {
    const connectionId = await connect(session, t);
    if (typeof connectionId === 'string') return emptyScrape(connectionId);
    const transactionId = newTransactionId();
    const reply = await ask(session, encodeScrape(connectionId, transactionId, hashes), transactionId, 'scrape', t);
    if (reply.action === 'error') return emptyScrape(reply.message);
    if (reply.action !== 'scrape') throw unexpected(reply, 'scrape');
    if (reply.entries.length !== hashes.length) {
      throw new QueryError(`malformed reply: ${reply.entries.length} scrape entries for ${hashes.length} hashes`);
    }
    const info = emptyScrape();
    info.torrents = reply.entries.map((e, i) => ({
      infoHash: Buffer.from(hashes[i]).toString('hex'),
      complete: e.seeders,
      incomplete: e.leechers,
      downloaded: e.completed,
      name: null,
    }));
    return info;
  });
}

async function withSession<T>(host: string, port: number, t: Transport, run: (s: Session) => Promise<T>): Promise<T> {
  const { address, family } = await resolve(host, t);
  t.exchange.address = formatHostPort(address, port);
  t.trace('Address', `${t.exchange.address} (IPv${family}${address === host ? '' : `, resolved from ${host}`})`);
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    return await run({ socket, address, port, peerSize: family === 6 ? 18 : 6 });
  } finally {
    socket.close();
  }
}

async function resolve(host: string, t: Transport): Promise<{ address: string; family: number }> {
  const aborted = new Promise<never>((_, reject) => {
    t.signal.addEventListener('abort', () => reject(timedOut(t, `the address of ${host}`)), { once: true });
  });
  // The abort listener may reject after lookup won; nobody waits on it then.
  aborted.catch(() => {});
  try {
    return await Promise.race([lookup(host), aborted]);
  } catch (err) {
    if (err instanceof QueryError) throw err;
    throw new QueryError(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The connection id, or the tracker's error message. */
async function connect(session: Session, t: Transport): Promise<Uint8Array | string> {
  const transactionId = newTransactionId();
  const start = performance.now();
  const reply = await ask(session, encodeConnect(transactionId), transactionId, 'connect', t);
  if (reply.action === 'error') return reply.message;
  if (reply.action !== 'connect') throw unexpected(reply, 'connect');
  const id = Buffer.from(reply.connectionId).toString('hex');
  t.trace('Connect', `transaction ${hex32(transactionId)} → connection id ${id} in ${elapsedMs(start)} ms`);
  return reply.connectionId;
}

/**
 * Sends `datagram` now and again every RESEND_MS, and resolves with the first reply from the tracker that carries
 * `transactionId`. A reply of that transaction that cannot be read rejects; other datagrams are ignored.
 */
function ask(
  session: Session,
  datagram: Uint8Array,
  transactionId: number,
  what: 'connect' | 'announce' | 'scrape',
  t: Transport,
): Promise<UdpReply> {
  const { socket, address, port, peerSize } = session;
  const start = performance.now();
  if (what !== 'connect') t.trace(what === 'announce' ? 'Announce' : 'Scrape', `transaction ${hex32(transactionId)}`);
  return new Promise((resolve, reject) => {
    let sent = 0;
    const sendOnce = () => {
      sent++;
      socket.send(datagram, port, address, (err) => {
        if (err)
          finish(() => reject(new QueryError(`cannot send to ${formatHostPort(address, port)}: ${err.message}`)));
      });
    };
    const timer = setInterval(() => {
      t.trace('Resend', `${what} request, no reply after ${(elapsedMs(start) / 1000).toFixed(1)} s`);
      sendOnce();
    }, RESEND_MS);
    const onAbort = () => {
      const times = sent === 1 ? 'sent once' : `sent ${sent} times`;
      finish(() => reject(timedOut(t, `the ${what} reply from ${formatHostPort(address, port)} (${times})`)));
    };
    const onError = (err: Error) => finish(() => reject(new QueryError(`UDP socket: ${err.message}`)));
    const onMessage = (message: Buffer, from: dgram.RemoteInfo) => {
      if (from.port !== port || !sameAddress(from.address, address)) return;
      const reply = decodeUdpReply(message, peerSize);
      if (reply.transactionId !== null && reply.transactionId !== transactionId) return;
      if (reply.action === 'malformed') {
        finish(() => reject(new QueryError(`malformed ${what} reply: ${reply.reason}`)));
        return;
      }
      if (what !== 'connect') {
        t.exchange.bytes = message.length;
        t.exchange.timeMs = elapsedMs(start);
        t.trace('Reply', `${message.length} bytes in ${t.exchange.timeMs} ms`);
      }
      finish(() => resolve(reply));
    };
    const finish = (settle: () => void) => {
      clearInterval(timer);
      t.signal.removeEventListener('abort', onAbort);
      socket.off('message', onMessage);
      socket.off('error', onError);
      settle();
    };
    if (t.signal.aborted) return onAbort();
    t.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('message', onMessage);
    socket.on('error', onError);
    sendOnce();
  });
}

function unexpected(reply: UdpReply, what: string): QueryError {
  return new QueryError(`malformed reply: a ${reply.action} reply to a ${what} request`);
}

/** The same address, whatever the text form (an IPv6 address has many). */
function sameAddress(a: string, b: string): boolean {
  return canonical(a) === canonical(b);
}

function canonical(address: string): string {
  const bytes = new Uint8Array(16);
  if (parseIPv4(address, bytes, 0)) return formatIp(bytes, 0, 4);
  if (parseIPv6(address, bytes, 0)) return formatIp(bytes, 0, 16);
  return address;
}

function newTransactionId(): number {
  return randomInt(2 ** 32);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
