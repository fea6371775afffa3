// One UDP datagram in, at most one reply out (BEP 15). Independent of the socket API, so the dgram path and a
// batched path can share it, and tests can call it directly.

import { createAnnounceRequest } from '../protocol/announce.ts';
import { copyPeers, type ScrapeEntry } from '../protocol/http-replies.ts';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ANNOUNCE_REPLY_HEADER_SIZE,
  createUdpRequest,
  MAX_SCRAPE_HASHES,
  parseUdpRequest,
  SCRAPE_ENTRY_SIZE,
  writeAnnounceHeader,
  writeConnectReply,
  writeError,
  writeScrapeEntry,
  writeScrapeHeader,
} from '../protocol/udp.ts';
import { C } from '../stats/counters.ts';
import { FAMILY_V4 } from '../swarm/store.ts';
import type { ConnectionIds } from '../tracker/connection-id.ts';
import { KIND_ANNOUNCE, KIND_SCRAPE } from '../tracker/rate-limit.ts';
import { PEERS_OWN_FAMILY, RATE_LIMITED_REASON, type Tracker } from '../tracker/tracker.ts';

/** The reply cache's variant for UDP announce replies (HTTP's are 1 and 2). */
const REPLY_UDP = 0;
/** Peers per IPv6 reply: 20 + 66 × 18 = 1208 bytes, inside the 1280-byte IPv6 minimum MTU. */
export const UDP_V6_MAX_PEERS = 66;

export class UdpHandler {
  private readonly tracker: Tracker;
  private readonly ids: ConnectionIds;
  private readonly req = createUdpRequest(createAnnounceRequest());
  private readonly entry: ScrapeEntry = { complete: 0, downloaded: 0, downloaders: 0, incomplete: 0 };
  /** The largest reply handle() writes: the `out` it is given must hold this many bytes. */
  readonly maxReplySize: number;
  private out: Uint8Array = new Uint8Array(0);
  private outView: DataView = new DataView(new ArrayBuffer(0));

  constructor(tracker: Tracker, ids: ConnectionIds) {
    this.tracker = tracker;
    this.ids = ids;
    const maxPeers = tracker.options.maxPeers;
    this.maxReplySize = Math.max(
      ANNOUNCE_REPLY_HEADER_SIZE + maxPeers * 6,
      ANNOUNCE_REPLY_HEADER_SIZE + UDP_V6_MAX_PEERS * 18,
      8 + MAX_SCRAPE_HASHES * SCRAPE_ENTRY_SIZE,
    );
  }

  /**
   * Handles `msg[0, length)` from a client whose address is `addr` (4 bytes for FAMILY_V4, 16 for FAMILY_V6).
   * Writes the reply to `out` (at least `maxReplySize` bytes; `outView` is a DataView of the same bytes) and returns
   * its length, or 0 to send nothing.
   */
  handle(
    msg: Uint8Array,
    length: number,
    family: number,
    addr: Uint8Array,
    out: Uint8Array,
    outView: DataView,
  ): number {
    this.out = out;
    this.outView = outView;
    const counts = this.tracker.counters.values;
    counts[C.udpPackets]++;
    const req = this.req;
    parseUdpRequest(msg, length, req);
    const addrLength = family === FAMILY_V4 ? 4 : 16;
    const now = this.tracker.clock.now;
    if (req.action === ACTION_CONNECT) {
      counts[C.udpConnects]++;
      const window = this.ids.window(now);
      return writeConnectReply(this.out, req.transactionId, window, this.ids.mac(window, addr, addrLength));
    }
    if (req.action < 0) return 0;
    if (!this.ids.verify(req.connectionIdHi, req.connectionIdLo, addr, addrLength, now)) {
      counts[C.udpMismatch]++;
      return this.error('bad connection id', length);
    }
    if (req.error !== '') return this.error(req.error, length);
    // parseUdpRequest yields only connect, announce, scrape or -1.
    const isAnnounce = req.action === ACTION_ANNOUNCE;
    if (!this.tracker.admit(isAnnounce ? KIND_ANNOUNCE : KIND_SCRAPE, family, addr)) {
      return this.error(RATE_LIMITED_REASON, length);
    }
    return isAnnounce ? this.announce(family, addr, length) : this.scrape(msg);
  }

  private announce(family: number, addr: Uint8Array, length: number): number {
    const a = this.req.announce;
    if (a.port === 0) return this.error('invalid port', length);
    const tracker = this.tracker;
    const cached = tracker.cachedReply(a, family, addr, REPLY_UDP);
    if (cached !== null) {
      tracker.counters.values[C.udpAnnounces]++;
      this.out.set(cached);
      this.outView.setUint32(4, this.req.transactionId);
      return cached.length;
    }
    const maxWant = family === FAMILY_V4 ? tracker.options.maxPeers : UDP_V6_MAX_PEERS;
    const r = tracker.announce(a, family, addr, PEERS_OWN_FAMILY, maxWant);
    if (r === null) return this.error(tracker.refusal, length);
    tracker.counters.values[C.udpAnnounces]++;
    const at = writeAnnounceHeader(this.out, this.req.transactionId, r.interval, r.incomplete, r.complete);
    const out = this.out;
    const end = family === FAMILY_V4 ? copyPeers(r.peers.v4, 6, out, at) : copyPeers(r.peers.v6, 18, out, at);
    tracker.keepReply(a, family, addr, REPLY_UDP, this.out, 0, end);
    return end;
  }

  private scrape(msg: Uint8Array): number {
    const req = this.req;
    this.tracker.counters.values[C.udpScrapes]++;
    let at = writeScrapeHeader(this.out, req.transactionId);
    for (let k = 0; k < req.scrapeCount; k++) {
      this.tracker.scrape(msg, req.scrapeOffset + k * 20, this.entry);
      at = writeScrapeEntry(this.out, at, this.entry.complete, this.entry.downloaded, this.entry.incomplete);
    }
    return at;
  }

  private error(message: string, requestLength: number): number {
    return writeError(this.out, this.req.transactionId, message, requestLength);
  }
}
