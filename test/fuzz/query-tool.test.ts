// Fuzz target: `swarmd query` reading hostile trackers. HTTP replies are tracker-shaped bencode (every field present,
// missing or of the wrong type, text with terminal escapes, C1 controls and broken UTF-8, peers of any length) that is
// then mutated; UDP replies come from a fake tracker on a real socket, built with the tracker's own reply writers and
// mutated, for a whole connect-then-announce or connect-then-scrape exchange. The tool must end every query with a
// result or a QueryError / MalformedReply — nothing else — and what it prints must carry no control character, so that
// a tracker cannot drive the operator's terminal; the JSON report must be valid JSON.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { parseQueryArgs, type QueryOptions } from '../../src/cli/query/args.ts';
import { emptyExchange, QueryError, type Transport } from '../../src/cli/query/exchange.ts';
import { jsonReport, type Report, summaryLines } from '../../src/cli/query/format.ts';
import { decodeReply } from '../../src/cli/query/http-tracker.ts';
import {
  type AnnounceInfo,
  MalformedReply,
  readAnnounceReply,
  readScrapeReply,
  type ScrapeInfo,
} from '../../src/cli/query/replies.ts';
import { udpAnnounce, udpScrape } from '../../src/cli/query/udp-tracker.ts';
import { type BValue, encode } from '../../src/protocol/bencode.ts';
import {
  CONNECT_REQUEST_SIZE,
  writeAnnounceHeader,
  writeConnectReply,
  writeError,
  writeScrapeEntry,
  writeScrapeHeader,
} from '../../src/protocol/udp.ts';
import { applyEdits, bytes, edits, latin1, mutated } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

/** Text a hostile tracker might send to a terminal: escape sequences, C1 controls, bidi overrides, broken UTF-8. */
const hostileText = fc.oneof(
  fc.constantFrom(
    'ok',
    '\x1b[2J\x1b[31mred',
    '\x1b]0;title\x07',
    '\x9b31m',
    '\r\rover',
    'a\nb',
    '\0',
    '\u202eevil',
    '\xc3\x28',
    '\xff',
  ),
  fc.string({ unit: 'binary', maxLength: 16 }),
);
const text = hostileText.map((s) => Buffer.from(s, s.length % 2 === 0 ? 'utf8' : 'latin1'));

const count = fc.oneof(fc.nat(), fc.constantFrom(-1, 2 ** 53, 2 ** 60), fc.bigInt({ min: 0n, max: 2n ** 80n }));
/** A field's value, usually of the right type. */
const field = (right: fc.Arbitrary<BValue>): fc.Arbitrary<BValue> =>
  fc.oneof({ weight: 5, arbitrary: right }, text, fc.constant<BValue>([]), fc.constant<BValue>({}));

const dictPeer = fc.record(
  {
    ip: field(fc.oneof(text, fc.constantFrom('10.0.0.1', '::ffff:10.0.0.2', 'peer.example').map(latin1))),
    port: field(count),
    'peer id': field(bytes(20)),
  },
  { requiredKeys: [] },
);

const announceReply = fc.record(
  {
    'failure reason': text,
    'warning message': text,
    interval: field(count),
    'min interval': field(count),
    complete: field(count),
    incomplete: field(count),
    downloaded: field(count),
    'external ip': field(fc.oneof(bytes(4), bytes(16), bytes(5), text)),
    'tracker id': field(text),
    peers: field(
      fc.oneof(
        fc.nat({ max: 8 }).chain((n) => bytes(n * 6)),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(dictPeer, { maxLength: 4 }),
      ),
    ),
    peers6: field(
      fc.oneof(
        fc.nat({ max: 4 }).chain((n) => bytes(n * 18)),
        fc.uint8Array({ maxLength: 40 }),
      ),
    ),
  },
  { requiredKeys: [] },
);

const scrapeEntry = fc.record(
  { complete: field(count), incomplete: field(count), downloaded: field(count), name: field(text) },
  { requiredKeys: [] },
);
const scrapeReply = fc.record(
  {
    'failure reason': text,
    files: field(
      fc.dictionary(
        fc.oneof(
          bytes(20).map((b) => b.toString('latin1')),
          fc.string(),
        ),
        scrapeEntry,
        { maxKeys: 3 },
      ),
    ),
    flags: field(fc.record({ min_request_interval: field(count) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);

const REPLY_TOKENS = ['e', 'd', 'l', 'i', ':', '5:peers', '8:interval', 'i-1e', 'i99999999999999999999e', '\x1b[31m'];

/** Options of a query as the command line gives them: announce (with --show-peers) or scrape of two hashes. */
function options(argv: string[]): QueryOptions {
  const parsed = parseQueryArgs(argv);
  assert.notEqual(parsed, 'help');
  return parsed as QueryOptions;
}

/** Checks what the tool prints for a result: no control character anywhere, and JSON that parses. */
function checkPrinted(o: QueryOptions, announce: AnnounceInfo | null, scrape: ScrapeInfo | null): void {
  const report: Report = { options: o, exchange: emptyExchange(), announce, scrape, error: null };
  for (const line of summaryLines(report)) assert.doesNotMatch(line, /\p{Cc}/u, JSON.stringify(line));
  JSON.parse(JSON.stringify(jsonReport(report)));
}

/** Runs a query step: a result, or null for a QueryError or MalformedReply (the tool prints those sanitised). */
async function resultOf<T>(step: () => T | Promise<T>): Promise<T | null> {
  try {
    return await step();
  } catch (err) {
    assert.ok(err instanceof QueryError || err instanceof MalformedReply, `threw ${err}`);
    return null;
  }
}

test('HTTP replies: read or refused as QueryError/MalformedReply, and printed without control characters', async () => {
  const announceOptions = options(['-t', 'http://tracker.example/announce', '-p', '-n', '3']);
  const scrapeOptions = options([
    '-t',
    'http://tracker.example/announce',
    '-s',
    '-H',
    '11'.repeat(20),
    '-H',
    '22'.repeat(20),
  ]);
  let read = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        mutated(
          announceReply.map((r) => encode(r)),
          REPLY_TOKENS,
        ).map((body) => ({ scrape: false, body })),
        mutated(
          scrapeReply.map((r) => encode(r)),
          REPLY_TOKENS,
        ).map((body) => ({ scrape: true, body })),
      ),
      async ({ scrape, body }) => {
        const value = await resultOf(() => decodeReply(body));
        if (value === null) return;
        if (scrape) {
          const info = await resultOf(() => readScrapeReply(value));
          if (info !== null) checkPrinted(scrapeOptions, null, info);
        } else {
          const info = await resultOf(() => readAnnounceReply(value));
          if (info !== null) checkPrinted(announceOptions, info, null);
        }
        read++;
      },
    ),
    fuzzParameters(1500),
  );
  assert.ok(read > 100, `only ${read} bodies decoded`);
});

/** What the fake tracker sends back: its connect reply, then its announce or scrape reply, each perhaps mutated. */
const udpReply = fc.oneof(
  fc.record({ kind: fc.constant('connect' as const), id: bytes(8) }),
  fc.record({
    kind: fc.constant('announce' as const),
    interval: fc.nat({ max: 0xffffffff }),
    leechers: fc.nat({ max: 0xffffffff }),
    seeders: fc.nat({ max: 0xffffffff }),
    peers: fc.uint8Array({ maxLength: 120 }),
  }),
  fc.record({ kind: fc.constant('scrape' as const), entries: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 9 }) }),
  fc.record({ kind: fc.constant('error' as const), message: hostileText }),
);
type UdpReplyPlan = typeof udpReply extends fc.Arbitrary<infer P> ? P : never;

function writeReply(p: UdpReplyPlan, transactionId: number): Buffer {
  const out = Buffer.alloc(CONNECT_REQUEST_SIZE + 200);
  switch (p.kind) {
    case 'connect':
      return out.subarray(0, writeConnectReply(out, transactionId, p.id.readUInt32BE(0), p.id.readUInt32BE(4)));
    case 'announce': {
      const at = writeAnnounceHeader(out, transactionId, p.interval, p.leechers, p.seeders);
      out.set(p.peers, at);
      return out.subarray(0, at + p.peers.length);
    }
    case 'scrape': {
      let at = writeScrapeHeader(out, transactionId);
      for (let k = 0; k + 2 < p.entries.length; k += 3)
        at = writeScrapeEntry(out, at, p.entries[k], p.entries[k + 1], p.entries[k + 2]);
      return out.subarray(0, at);
    }
    case 'error':
      return out.subarray(0, writeError(out, transactionId, p.message, out.length));
  }
}

const UDP_TOKENS = ['\x00\x00\x00\x00', '\x00\x00\x00\x01', '\x00\x00\x00\x02', '\x00\x00\x00\x03', '\x1b[31m'];
const exchangePlan = fc.record({
  connect: fc.tuple(
    fc.oneof({ weight: 4, arbitrary: udpReply.filter((r) => r.kind === 'connect') }, udpReply),
    edits(UDP_TOKENS),
  ),
  answer: fc.tuple(udpReply, edits(UDP_TOKENS)),
  scrape: fc.boolean(),
});

/** The fake tracker: answers each request with the next reply of the plan, its transaction id set to the request's. */
let tracker: dgram.Socket;
let replies: [UdpReplyPlan, Parameters<typeof applyEdits>[1]][] = [];
before(async () => {
  tracker = dgram.createSocket('udp4');
  tracker.on('message', (msg, from) => {
    const next = replies.shift();
    if (next === undefined || msg.length < CONNECT_REQUEST_SIZE) return;
    const reply = applyEdits(writeReply(next[0], 0), next[1]);
    // The tool takes only replies to its own transaction: any reply long enough to carry one carries that one.
    if (reply.length >= 8) msg.copy(reply, 4, 12, 16);
    tracker.send(reply, from.port, from.address);
  });
  tracker.bind(0, '127.0.0.1');
  await once(tracker, 'listening');
});
after(() => tracker.close());

test('UDP exchanges with a hostile tracker: a result or a QueryError/MalformedReply, printed without controls', async () => {
  const hashes = [Buffer.alloc(20, 0x11), Buffer.alloc(20, 0x22)];
  const announceOptions = options(['-t', 'udp://127.0.0.1:1/announce', '-p']);
  const scrapeOptions = options(['-t', 'udp://127.0.0.1:1', '-s', '-H', '11'.repeat(20), '-H', '22'.repeat(20)]);
  await fc.assert(
    fc.asyncProperty(exchangePlan, async (plan) => {
      replies = [plan.connect, plan.answer];
      const t: Transport = {
        signal: AbortSignal.timeout(5000),
        timeoutSeconds: 5,
        exchange: emptyExchange(),
        trace: () => {},
      };
      const { port } = tracker.address();
      if (plan.scrape) {
        const info = await resultOf(() => udpScrape('127.0.0.1', port, hashes, t));
        if (info !== null) checkPrinted(scrapeOptions, null, info);
      } else {
        const request = {
          infoHash: hashes[0],
          peerId: Buffer.alloc(20, 0x2d),
          downloaded: 0,
          left: 1,
          uploaded: 0,
          event: 2,
          numWant: 3,
          port: 6881,
        };
        const info = await resultOf(() => udpAnnounce('127.0.0.1', port, request, t));
        if (info !== null) checkPrinted(announceOptions, info, null);
      }
    }),
    fuzzParameters(100, 40),
  );
});
