// The query tool's command line → QueryOptions. Every mistake is a UsageError with a one-line reason (exit 2).

import { randomBytes, randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parsePort } from '../../config/values.ts';
import { HASH_LENGTH, PEER_ID_LENGTH } from '../../protocol/announce.ts';
import { MAX_SCRAPE_HASHES } from '../../protocol/udp.ts';
import { VERSION } from '../../version.ts';
import { parseTrackerUrl, scrapeUrlOf, type TrackerUrl } from './urls.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const EVENTS = ['started', 'completed', 'stopped', 'none'] as const;
export type QueryEvent = (typeof EVENTS)[number];

export type QueryMode = 'announce' | 'scrape' | 'full-scrape';

export interface QueryOptions {
  tracker: TrackerUrl;
  mode: QueryMode;
  /** Announce: exactly one (random unless given); scrape: those given; full scrape: none. */
  hashes: Uint8Array[];
  event: QueryEvent;
  numWant: number;
  left: number;
  peerId: Uint8Array;
  port: number;
  userAgent: string;
  json: boolean;
  showPeers: boolean;
  timeoutSeconds: number;
  caFile: string | null;
  insecure: boolean;
}

const DEFAULT_PORT = 6881;
const DEFAULT_NUM_WANT = 50;
const DEFAULT_LEFT = 1_000_000_000;
const DEFAULT_TIMEOUT_SECONDS = 10;
const MAX_TIMEOUT_SECONDS = 3600;
/** UDP carries numwant as a signed 32-bit number. */
const MAX_NUM_WANT = 0x7fffffff;
const PEER_ID_PREFIX = '-SQ0001-';
const TOOL_VERSION = VERSION.slice(VERSION.indexOf(' ') + 1);
/** qBittorrent releases `-r` picks from, to look like a common client to a tracker that filters clients. */
const QBITTORRENT_VERSIONS = ['4.6.7', '5.0.4', '5.0.5', '5.1.0', '5.1.2', '5.1.4'];

const OPTIONS = {
  tracker: { type: 'string', short: 't' },
  hash: { type: 'string', short: 'H', multiple: true },
  event: { type: 'string', short: 'e' },
  'num-want': { type: 'string', short: 'n' },
  left: { type: 'string', short: 'L' },
  'peer-id': { type: 'string' },
  port: { type: 'string' },
  'random-qb': { type: 'boolean', short: 'r' },
  scrape: { type: 'boolean', short: 's' },
  'full-scrape': { type: 'boolean' },
  'show-peers': { type: 'boolean', short: 'p' },
  json: { type: 'boolean' },
  format: { type: 'string', short: 'o' },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Flags that only mean something in an announce. */
const ANNOUNCE_ONLY = ['event', 'num-want', 'left', 'peer-id', 'port', 'random-qb', 'show-peers'] as const;

export function helpText(): string {
  return `Usage: swarmd query -t URL [options]     (also installed as swarmd-query)

Asks a BitTorrent tracker one announce or scrape, as a client would, and shows what it answered.

  -t, --tracker URL      http://, https:// or udp://HOST:PORT[/announce] (IPv6 hosts in brackets)
  -H, --hash HEX         info hash, 40 hex digits; repeatable with --scrape; default: a random one (announce)
  -e, --event EVENT      started, completed, stopped or none (default: started)
  -n, --num-want N       peers asked for (default: ${DEFAULT_NUM_WANT})
  -L, --left N           bytes left (default: 0 with --event completed, else ${DEFAULT_LEFT})
      --peer-id ID       20 bytes of text, or 40 hex digits (default: ${PEER_ID_PREFIX} and 12 random characters)
      --port N           the port announced (default: ${DEFAULT_PORT})
  -r, --random-qb        look like qBittorrent: its User-Agent and peer id prefix, version picked at random
  -s, --scrape           scrape the --hash values instead of announcing (HTTP: the BEP 48 scrape URL; UDP: BEP 15)
      --full-scrape      scrape with no info_hash (HTTP only)
  -p, --show-peers       list the peers returned (table output)
      --json             print one JSON object (same as -o json)
  -o, --format FORMAT    table (default) or json
      --timeout SECONDS  give up after this long (default: ${DEFAULT_TIMEOUT_SECONDS})
      --ca FILE          PEM CA certificates to trust for https:// instead of the system's
  -k, --insecure         do not verify the https:// certificate
  -h, --help             this text

Exit status: 0 the tracker answered; 1 it refused (failure reason, UDP error) or no usable answer came
(timeout, network or TLS error, HTTP status other than 200, malformed reply); 2 a usage error.
`;
}

/** The options of `argv`, or 'help'. Throws UsageError. */
export function parseQueryArgs(argv: string[]): QueryOptions | 'help' {
  let values: ReturnType<typeof parseValues>;
  try {
    values = parseValues(argv);
  } catch (err) {
    // node:util adds advice about positionals after the first sentence; the first is the reason.
    throw new UsageError((err as Error).message.split('. ')[0]);
  }
  if (values.help) return 'help';
  if (values.tracker === undefined) throw new UsageError('no tracker: give -t URL');
  const tracker = parseTrackerUrl(values.tracker);
  if (typeof tracker === 'string') throw new UsageError(tracker);

  const mode: QueryMode = values['full-scrape'] ? 'full-scrape' : values.scrape ? 'scrape' : 'announce';
  const hashes = (values.hash ?? []).map(parseHash);
  checkMode(mode, tracker, hashes.length, values);

  const event = parseEvent(values.event);
  // A completed announce reports the download done; any other a download barely begun.
  const defaultLeft = event === 'completed' ? 0 : DEFAULT_LEFT;
  const random = values['random-qb'] ? randomQbittorrent() : null;
  return {
    tracker,
    mode,
    hashes: mode === 'announce' && hashes.length === 0 ? [randomBytes(HASH_LENGTH)] : hashes,
    event,
    numWant:
      values['num-want'] === undefined ? DEFAULT_NUM_WANT : count('-n/--num-want', values['num-want'], MAX_NUM_WANT),
    left: values.left === undefined ? defaultLeft : count('-L/--left', values.left, Number.MAX_SAFE_INTEGER),
    peerId:
      values['peer-id'] === undefined ? randomPeerId(random?.prefix ?? PEER_ID_PREFIX) : parsePeerId(values['peer-id']),
    port: values.port === undefined ? DEFAULT_PORT : port(values.port),
    userAgent: random?.userAgent ?? `swarmd-query/${TOOL_VERSION}`,
    json: parseFormat(values),
    showPeers: values['show-peers'] ?? false,
    timeoutSeconds: values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : seconds(values.timeout),
    caFile: values.ca ?? null,
    insecure: values.insecure ?? false,
  };
}

function parseValues(argv: string[]) {
  return parseArgs({ args: withJoinedValues(argv), options: OPTIONS, strict: true, allowPositionals: false }).values;
}

/**
 * getopt's rule, which node:util refuses as ambiguous: the word after an option that takes a value is its value, even
 * when it starts with '-' (peer ids do: `--peer-id -qB5140-…`). Such pairs become `--name=value`.
 */
function withJoinedValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return [...out, ...argv.slice(i)];
    const name = valueOption(argv[i]);
    if (name !== null && i + 1 < argv.length) out.push(`--${name}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

function valueOption(arg: string): string | null {
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (spec.type !== 'string') continue;
    if (arg === `--${name}` || ('short' in spec && arg === `-${spec.short}`)) return name;
  }
  return null;
}

function checkMode(
  mode: QueryMode,
  tracker: TrackerUrl,
  hashCount: number,
  values: ReturnType<typeof parseValues>,
): void {
  if (mode === 'announce') {
    if (hashCount > 1) throw new UsageError('an announce takes one -H/--hash; give -s to scrape several');
  } else {
    const misplaced = ANNOUNCE_ONLY.find((name) => values[name] !== undefined);
    if (misplaced !== undefined) throw new UsageError(`--${misplaced} is for announces, not scrapes`);
    if (mode === 'full-scrape' && hashCount > 0) throw new UsageError('--full-scrape sends no hash: drop -H/--hash');
    if (mode === 'scrape' && hashCount === 0) throw new UsageError('--scrape needs at least one -H/--hash');
    if (tracker.protocol === 'udp') {
      if (mode === 'full-scrape') throw new UsageError('UDP trackers have no full scrape (BEP 15): give -s -H HEX');
      if (hashCount > MAX_SCRAPE_HASHES) {
        throw new UsageError(`a UDP scrape takes at most ${MAX_SCRAPE_HASHES} hashes, not ${hashCount}`);
      }
    } else if (scrapeUrlOf(tracker.href) === null) {
      throw new UsageError(`cannot scrape ${tracker.href}: its path does not end in a component starting 'announce'`);
    }
  }
  if (tracker.protocol === 'udp' && (values.ca !== undefined || values.insecure)) {
    throw new UsageError('--ca and -k/--insecure are for http:// and https:// trackers');
  }
  if (values.ca !== undefined && values.insecure) throw new UsageError('--ca and -k/--insecure contradict each other');
}

function parseHash(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{40}$/.test(text)) throw new UsageError(`-H/--hash '${text}' is not 40 hex digits`);
  return Buffer.from(text, 'hex');
}

function parseEvent(text: string | undefined): QueryEvent {
  if (text === undefined) return 'started';
  const event = EVENTS.find((e) => e === text);
  if (event === undefined) throw new UsageError(`-e/--event '${text}' is not one of ${EVENTS.join(', ')}`);
  return event;
}

function parsePeerId(text: string): Uint8Array {
  if (/^[0-9a-fA-F]{40}$/.test(text)) return Buffer.from(text, 'hex');
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length !== PEER_ID_LENGTH) {
    throw new UsageError(`--peer-id '${text}' is ${bytes.length} bytes, not ${PEER_ID_LENGTH} (or 40 hex digits)`);
  }
  return bytes;
}

function parseFormat(values: ReturnType<typeof parseValues>): boolean {
  const format = values.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`-o/--format '${format}' is not table or json`);
  if (values.json && values.format === 'table') throw new UsageError('--json and -o table contradict each other');
  return values.json === true || format === 'json';
}

function count(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max) throw new UsageError(`${flag} '${text}' is not a whole number from 0 to ${max}`);
  return n;
}

function port(text: string): number {
  const p = parsePort(text);
  if (typeof p === 'string') throw new UsageError(`--port ${p}`);
  return p;
}

function seconds(text: string): number {
  const s = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || s <= 0 || s > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(`--timeout '${text}' is not a number of seconds above 0, at most ${MAX_TIMEOUT_SECONDS}`);
  }
  return s;
}

const ALPHANUMERIC = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `prefix` and random letters and digits up to 20 bytes: readable in logs, as clients' own ids are. */
function randomPeerId(prefix: string): Uint8Array {
  let id = prefix;
  while (id.length < PEER_ID_LENGTH) id += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return Buffer.from(id, 'latin1');
}

/** A qBittorrent release's User-Agent and Azureus-style peer id prefix (5.1.4 → `-qB5140-`). */
function randomQbittorrent(): { userAgent: string; prefix: string } {
  const version = QBITTORRENT_VERSIONS[randomInt(QBITTORRENT_VERSIONS.length)];
  return { userAgent: `qBittorrent/${version}`, prefix: `-qB${version.replaceAll('.', '')}0-` };
}
