// The tracker's event counters: one Float64Array slot per counter, bumped on the hot path with a plain `++`.
//
// With several workers every worker counts into its own region of one SharedArrayBuffer and readers sum the regions,
// so /stats and /metrics report the whole process whichever worker answers, and no worker ever writes where another
// does (no atomics, no lost updates). A reader may see a count a request behind; that is fine for statistics.

/** Counter indexes. */
export const C = {
  /** HTTP connections accepted. */
  tcpAccepts: 0,
  /** HTTP announces answered (not refused). */
  tcpAnnounces: 1,
  /** HTTP scrapes answered (with info_hash). */
  tcpScrapes: 2,
  /** Full scrapes answered (HTTP /scrape without info_hash, and /stats?mode=tpbs). */
  fullScrapes: 3,
  /** Body bytes of those full scrapes, as sent (compressed or not). */
  fullScrapeBytes: 4,
  /** UDP datagrams received. */
  udpPackets: 5,
  udpConnects: 6,
  /** UDP announces answered (not refused). */
  udpAnnounces: 7,
  udpScrapes: 8,
  /** UDP requests with a wrong or expired connection id. */
  udpMismatch: 9,
  /** Completed downloads counted (event=completed from a seeder, once per peer). */
  completed: 10,
  /** Announces refused by the access list (HTTP and UDP). */
  refused: 11,
  /** Peer records received from other cluster nodes. */
  syncs: 12,
  /** HTTP requests refused with a failure reason because of a bad parameter (HTTP 200, bencoded). */
  badParameter: 13,
  /** Announces and scrapes refused by the per-address rate limit (HTTP and UDP). */
  rateLimited: 14,
  /** Announces refused, or peers not stored, because a cap was reached (torrents, peers per torrent, memory). */
  capRefused: 15,
  /** HTTP(S) connections closed by a bound: late head, idle, TLS handshake, too many connections. */
  connectionsCut: 16,
  /** Announces answered with the reply kept for a peer re-announcing before min interval (reply-cache.ts). */
  repeatsCached: 17,
  /** HTTP responses by status; see HTTP_STATUSES. */
  httpStatus: 18,
} as const;

/** The HTTP error statuses swarmd counts, in the order of their counters from C.httpStatus. */
export const HTTP_STATUSES = [302, 400, 403, 404, 405, 408, 431, 500, 503, 505] as const;

/** Re-announce ages are counted per minute, 0 to RENEW_MINUTES - 1 (older ones in the last). */
export const RENEW_MINUTES = 45;
const RENEW_BASE = C.httpStatus + HTTP_STATUSES.length;

/** Slots per region. */
export const COUNTER_COUNT = RENEW_BASE + RENEW_MINUTES;

const STATUS_INDEX = new Int8Array(600).fill(-1);
HTTP_STATUSES.forEach((status, k) => {
  STATUS_INDEX[status] = k;
});

/** Memory for the counters of `regions` workers, to share between them. */
export function createCounterBuffer(regions: number): SharedArrayBuffer {
  return new SharedArrayBuffer(regions * COUNTER_COUNT * Float64Array.BYTES_PER_ELEMENT);
}

export class Counters {
  /** This thread's region: bump with `values[C.x]++`. */
  readonly values: Float64Array;
  private readonly all: Float64Array;
  private readonly regions: number;

  /** `buffer` from createCounterBuffer() and this worker's `region`; by default a private buffer of one region. */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer = new ArrayBuffer(COUNTER_COUNT * 8), region = 0) {
    this.all = new Float64Array(buffer);
    this.regions = this.all.length / COUNTER_COUNT;
    if (!Number.isInteger(this.regions) || region < 0 || region >= this.regions) {
      throw new RangeError('counter buffer and region do not match');
    }
    this.values = this.all.subarray(region * COUNTER_COUNT, (region + 1) * COUNTER_COUNT);
  }

  /** Counts an HTTP response with an error `status` (statuses outside HTTP_STATUSES are not counted). */
  httpStatus(status: number): void {
    const k = status < STATUS_INDEX.length ? STATUS_INDEX[status] : -1;
    if (k >= 0) this.values[C.httpStatus + k]++;
  }

  /** Counts a re-announce that came `ageSeconds` after the peer's previous one. */
  renew(ageSeconds: number): void {
    this.values[RENEW_BASE + Math.min(RENEW_MINUTES - 1, Math.floor(ageSeconds / 60))]++;
  }

  /** The sum of counter `index` over every region. */
  total(index: number): number {
    let sum = 0;
    for (let r = 0; r < this.regions; r++) sum += this.all[r * COUNTER_COUNT + index];
    return sum;
  }

  /** Responses with `status`, summed over every region. */
  statusTotal(status: (typeof HTTP_STATUSES)[number]): number {
    return this.total(C.httpStatus + STATUS_INDEX[status]);
  }

  /** Re-announces `minute` minutes after the previous one, summed over every region. */
  renewTotal(minute: number): number {
    return this.total(RENEW_BASE + minute);
  }
}
