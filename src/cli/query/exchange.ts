// How one query went on the wire, filled in by the HTTP and UDP transports as they go: whatever was learnt before an
// error is still reported.

export interface Redirect {
  status: number;
  location: string;
}

export interface TlsInfo {
  protocol: string | null;
  subject: string | null;
  issuer: string | null;
  verified: boolean;
  /** Why the certificate would not have been trusted, when -k let it through. */
  problem: string | null;
}

export interface Exchange {
  /** The last HTTP URL requested; null over UDP. */
  url: string | null;
  redirects: Redirect[];
  /** `address:port` of the tracker as connected to. */
  address: string | null;
  tls: TlsInfo | null;
  status: number | null;
  /** The reply's size on the wire (before gunzip). */
  bytes: number | null;
  /** From sending the request to having the whole reply (UDP: the announce or scrape, after connect). */
  timeMs: number | null;
}

export function emptyExchange(): Exchange {
  return { url: null, redirects: [], address: null, tls: null, status: null, bytes: null, timeMs: null };
}

/** No usable answer: the message is the reason printed. */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** Progress for the table output: a label and a line of text. */
export type Trace = (label: string, text: string) => void;

/** What the transports need besides the request. */
export interface Transport {
  /** Aborts when the time is up; covers the whole query (name lookup, redirects, connect and request). */
  signal: AbortSignal;
  timeoutSeconds: number;
  exchange: Exchange;
  trace: Trace;
}

export function timedOut(t: Transport, waitingFor: string): QueryError {
  return new QueryError(`timed out after ${t.timeoutSeconds} s waiting for ${waitingFor}`);
}

export function elapsedMs(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}
