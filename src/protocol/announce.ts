// The announce request every protocol parses into. Plain mutable data, reused between requests on the hot path.

/** Event numbers follow BEP 15 (0 none, 1 completed, 2 started, 3 stopped); paused (BEP 21) has no UDP number. */
export const EVENT_NONE = 0;
export const EVENT_COMPLETED = 1;
export const EVENT_STARTED = 2;
export const EVENT_STOPPED = 3;
export const EVENT_PAUSED = 4;

export const EVENT_NAMES = ['none', 'completed', 'started', 'stopped', 'paused'] as const;

export const HASH_LENGTH = 20;
export const PEER_ID_LENGTH = 20;

export interface AnnounceRequest {
  infoHash: Buffer;
  peerId: Buffer;
  port: number;
  uploaded: number;
  downloaded: number;
  /** Bytes left; -1 when the client did not say (then it counts as a leecher). */
  left: number;
  event: number;
  /** Peers wanted; -1 when the client did not say (the tracker's default applies). */
  numwant: number;
  /** BEP 23: compact peers (the default) or the dictionary model. */
  compact: boolean;
  /** BEP 41 URL data of a UDP announce (path and query), '' when none. Kept for passkeys. */
  urlData: string;
  /** The address an HTTP announce's `ip=` claims: 4 or 16 bytes in `ip`; 0 when absent, -1 when not an address. */
  ipLength: number;
  ip: Uint8Array;
}

export function createAnnounceRequest(): AnnounceRequest {
  return {
    infoHash: Buffer.alloc(HASH_LENGTH),
    peerId: Buffer.alloc(PEER_ID_LENGTH),
    port: 0,
    uploaded: 0,
    downloaded: 0,
    left: -1,
    event: EVENT_NONE,
    numwant: -1,
    compact: true,
    urlData: '',
    ipLength: 0,
    ip: new Uint8Array(16),
  };
}

export function resetAnnounceRequest(req: AnnounceRequest): void {
  req.port = 0;
  req.uploaded = 0;
  req.downloaded = 0;
  req.left = -1;
  req.event = EVENT_NONE;
  req.numwant = -1;
  req.compact = true;
  req.urlData = '';
  req.ipLength = 0;
}
