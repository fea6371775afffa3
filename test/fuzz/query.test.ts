// Fuzz target: the binary-safe query parsers, parseAnnounceParams and parseScrapeParams, on queries built from pairs
// whose keys are known, near-known (`INFO_HASH`, `info%5Fhash`) or unknown, and whose values are valid, a byte short
// or long, cut inside an escape, full of NUL, `+`, CR/LF and stray `%`, or numbers past 64 bits. Beyond the unit tests'
// "never throws", these compare the parse with what the query says, read by a plain string reference (a usable
// announce carries exactly the values it was given), and check metamorphic relations: the order of the pairs, empty
// and unknown pairs, and how a byte of a binary value is escaped never change the outcome.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type AnnounceRequest, createAnnounceRequest } from '../../src/protocol/announce.ts';
import { createScrapeHashes, parseAnnounceParams, parseScrapeParams } from '../../src/protocol/http-params.ts';
import { bytes, COMMON_TOKENS, latin1, percentEncode } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

const KNOWN_KEYS = [
  'info_hash',
  'peer_id',
  'port',
  'left',
  'uploaded',
  'downloaded',
  'event',
  'numwant',
  'compact',
  'ip',
];
const NEAR_KEYS = ['INFO_HASH', 'info%5Fhash', 'info_hash ', 'peer_id%00', 'port\0', 'Port', 'ip6', 'key', ''];

/** Percent-escapes or raw bytes, each byte chosen one way or the other (raw only where that is unambiguous). */
const mixedEscape = (raw: Uint8Array, choices: readonly number[]): string =>
  [...raw]
    .map((b, i) => {
      const how = choices[i % choices.length] ?? 0;
      const safe = b !== 0x25 && b !== 0x26 && b !== 0x3d && b !== 0x23;
      if (how === 0 && safe) return String.fromCharCode(b);
      const hex = b.toString(16).padStart(2, '0');
      return `%${how === 2 ? hex : hex.toUpperCase()}`;
    })
    .join('');

const binaryValue = fc.oneof(
  { weight: 4, arbitrary: bytes(20).map((b) => percentEncode(b)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: 24 })
      .chain((n) => bytes(n))
      .map((b) => percentEncode(b, true)),
  },
  { weight: 2, arbitrary: fc.tuple(bytes(20), fc.array(fc.constantFrom(0, 1, 2))).map(([b, c]) => mixedEscape(b, c)) },
);

const numberValue = fc.oneof(
  fc.integer({ min: -70000, max: 70000 }).map(String),
  fc.constantFrom(
    '',
    '-',
    '-0',
    '00',
    '0x10',
    '1e3',
    '+5',
    ' 1',
    '65536',
    '99999999999999999999',
    '999999999999999999999',
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

const anyValue = fc.oneof(
  fc.constantFrom('started', 'completed', 'stopped', 'paused', 'empty', 'bogus', '0', '1', '10.0.0.1', '::1'),
  fc.constantFrom('%', '%4', '%zz', '%%41', '+', '%2B', '%00', '%0d%0a', ...COMMON_TOKENS),
  fc.string({ unit: 'binary-ascii', maxLength: 24 }).map((s) => s.replace(/&/g, '%26')),
);

/** A value that suits the key most of the time. */
function valueFor(key: string): fc.Arbitrary<string> {
  if (key === 'info_hash' || key === 'peer_id') return fc.oneof({ weight: 5, arbitrary: binaryValue }, anyValue);
  if (['port', 'left', 'uploaded', 'downloaded', 'numwant'].includes(key)) {
    return fc.oneof({ weight: 5, arbitrary: numberValue }, anyValue);
  }
  return anyValue;
}

interface Pair {
  key: string;
  value: string | null;
}

const pair: fc.Arbitrary<Pair> = fc
  .oneof({ weight: 8, arbitrary: fc.constantFrom(...KNOWN_KEYS) }, fc.constantFrom(...NEAR_KEYS))
  .chain((key) => fc.record({ key: fc.constant(key), value: fc.option(valueFor(key), { freq: 12 }) }));

/** The pairs of an announce: each required one almost always there, some more, in any order. */
const announcePairs = fc
  .tuple(
    binaryValue,
    binaryValue,
    fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 65535 }).map(String) }, numberValue),
    fc.array(pair, { maxLength: 6 }),
    fc.boolean(),
  )
  .map(([hash, peerId, port, more, drop]) => {
    const required: Pair[] = [
      { key: 'info_hash', value: hash },
      { key: 'peer_id', value: peerId },
      { key: 'port', value: port },
    ];
    return [...required.slice(drop ? 1 : 0), ...more];
  })
  .chain((pairs) => fc.shuffledSubarray(pairs, { minLength: pairs.length, maxLength: pairs.length }));

const queryOf = (pairs: readonly Pair[]): string =>
  pairs.map((p) => (p.value === null ? p.key : `${p.key}=${p.value}`)).join('&');

function announce(query: string): { failure: string | null; req: AnnounceRequest } {
  const req = createAnnounceRequest();
  // Framed by other bytes, as in a request head: the parser must stay inside its range.
  const src = latin1(`GET /announce?${query} HTTP/1.1`);
  return { failure: parseAnnounceParams(src, 14, 14 + query.length, req), req };
}

/** The reference reading of a value: percent escapes decoded with a regex, null when one is malformed. */
function referenceDecode(value: string): Buffer | null {
  if (!/^(?:[^%]|%[0-9a-fA-F]{2})*$/.test(value)) return null;
  return latin1(value.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))));
}

/** Every value given for `key`, in order, by plain string splitting. */
function valuesOf(query: string, key: string): string[] {
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => (p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [p, '']))
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

test('parseAnnounceParams: a usable announce carries exactly the values its query gave', () => {
  let usable = 0;
  fc.assert(
    fc.property(announcePairs, (pairs) => {
      const query = queryOf(pairs);
      const { failure, req } = announce(query);
      if (failure !== null) {
        assert.ok(failure.length > 0);
        return;
      }
      usable++;
      const hashes = valuesOf(query, 'info_hash');
      assert.equal(hashes.length, 1, 'usable with an info_hash given twice');
      assert.deepEqual(referenceDecode(hashes[0]), req.infoHash);
      const peerIds = valuesOf(query, 'peer_id');
      assert.ok(peerIds.every((v) => referenceDecode(v)?.length === 20));
      assert.deepEqual(referenceDecode(peerIds[peerIds.length - 1]), req.peerId);
      // Numbers are compared where a double holds them exactly; past 2^53 the parser's figure may round differently.
      const exact = (v: string) => Math.abs(Number(v)) <= Number.MAX_SAFE_INTEGER;
      const port = valuesOf(query, 'port').at(-1) ?? '';
      assert.ok(/^\d{1,20}$/.test(port) && Number(port) === req.port, `port=${port} read as ${req.port}`);
      for (const key of ['left', 'uploaded', 'downloaded'] as const) {
        const given = valuesOf(query, key);
        assert.ok(
          given.every((v) => /^-?\d{1,20}$/.test(v) && Number(v) >= 0),
          `${key}=${given}`,
        );
        const last = given.at(-1);
        if (last !== undefined && exact(last)) assert.equal(req[key], Number(last));
      }
      const numwant = valuesOf(query, 'numwant').at(-1);
      if (numwant !== undefined && exact(numwant)) assert.equal(req.numwant, Math.max(-1, Number(numwant)));
      assert.ok(req.numwant >= -1);
      assert.ok(req.event >= 0 && req.event <= 4);
      assert.ok([-1, 0, 4, 16].includes(req.ipLength));
      assert.equal(req.compact, valuesOf(query, 'compact').at(-1) !== '0');
    }),
    fuzzParameters(2000),
  );
  assert.ok(usable > 100, `only ${usable} usable announces`);
});

/** What a parse decided, to compare two parses of the same meaning. */
function outcome(query: string) {
  const { failure, req } = announce(query);
  return { failure, req: failure === null ? { ...req, ip: req.ip.subarray(0, Math.max(0, req.ipLength)) } : null };
}

test('parseAnnounceParams: pair order decides nothing but which failure is named', () => {
  fc.assert(
    fc.property(
      announcePairs.chain((pairs) =>
        fc.tuple(fc.constant(pairs), fc.shuffledSubarray(pairs, { minLength: pairs.length, maxLength: pairs.length })),
      ),
      ([pairs, shuffled]) => {
        const a = outcome(queryOf(pairs));
        const b = outcome(queryOf(shuffled));
        assert.equal(a.failure === null, b.failure === null, `${a.failure} / ${b.failure}`);
        const repeated = new Set(pairs.map((p) => p.key)).size < pairs.length;
        if (!repeated) assert.deepEqual(a.req, b.req);
      },
    ),
    fuzzParameters(1000),
  );
});

test('parseAnnounceParams: empty pairs, unknown keys and how binary bytes are escaped change nothing', () => {
  const unknown = fc.record({
    key: fc
      .oneof(fc.constantFrom(...NEAR_KEYS), fc.string({ unit: 'binary-ascii', maxLength: 12 }))
      .map((k) => k.replace(/[&=]/g, '_'))
      .filter((k) => k !== '' && !KNOWN_KEYS.includes(k)),
    value: fc.option(anyValue),
  });
  fc.assert(
    fc.property(
      announcePairs,
      fc.array(fc.tuple(fc.nat(), fc.oneof(unknown, fc.constant(null)))),
      fc.array(fc.constantFrom(0, 1, 2), { minLength: 1 }),
      (pairs, insertions, choices) => {
        const expected = outcome(queryOf(pairs));
        // Unknown pairs and empty ones (a null here) slotted in anywhere.
        const parts = pairs.map((p) => queryOf([p]));
        for (const [at, extra] of insertions)
          parts.splice(at % (parts.length + 1), 0, extra === null ? '' : queryOf([extra]));
        assert.deepEqual(outcome(parts.join('&')), expected);
        // The binary values re-escaped another way (what they decode to is what counts).
        const reescaped = pairs.map((p) => {
          const raw = p.key === 'info_hash' || p.key === 'peer_id' ? referenceDecode(p.value ?? '') : null;
          return raw === null ? p : { key: p.key, value: mixedEscape(raw, choices) };
        });
        assert.deepEqual(outcome(queryOf(reescaped)), expected);
      },
    ),
    fuzzParameters(1000),
  );
});

test('parseScrapeParams: usable exactly when every info_hash decodes to 20 bytes and there are at most max', () => {
  const scrapePairs = fc.array(
    fc.oneof({ weight: 4, arbitrary: binaryValue.map((value): Pair => ({ key: 'info_hash', value })) }, pair),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(scrapePairs, fc.integer({ min: 0, max: 10 }), (pairs, max) => {
      const query = queryOf(pairs);
      const src = latin1(`/scrape?${query} `);
      const out = createScrapeHashes(max);
      const failure = parseScrapeParams(src, 8, 8 + query.length, max, out);
      const given = valuesOf(query, 'info_hash').map(referenceDecode);
      const usable = given.length <= max && given.every((h) => h?.length === 20);
      assert.equal(failure === null, usable, `${failure}: ${query}`);
      if (usable) {
        assert.equal(out.count, given.length);
        assert.deepEqual(out.hashes.subarray(0, out.count * 20), Buffer.concat(given as Buffer[]));
      }
    }),
    fuzzParameters(2000),
  );
});
