// Fuzz target: the bencode decoder's other entry points, on mutated encodings (markers and lengths inserted, values
// duplicated or cut, lengths and integers far past 64 bits) and on deep nesting. test/unit/bencode.test.ts covers
// decode() of arbitrary and mutated bytes; this covers decodePrefix() (what a reply reader uses), the lax mode with
// spans that the torrent directory hashes `info` with, and any caller's depth limit. Each either throws BencodeError
// and nothing else, or returns a value consistent with the bytes: the end and the spans inside the input, and the
// bytes they delimit decoding to the same values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type BDict,
  BencodeError,
  type BValue,
  decode,
  decodePrefix,
  encode,
  MAX_DEPTH,
} from '../../src/protocol/bencode.ts';
import { bytes, hostile, latin1, mutated } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

const BENCODE_TOKENS = [
  'i',
  'e',
  'l',
  'd',
  ':',
  '0:',
  '1:',
  '20:',
  'le',
  'de',
  'd1:a',
  'i-0e',
  'i00e',
  'i-e',
  'ie',
  'i9223372036854775808e',
  '9999999999999999:',
  '99999999999999999:',
  '4:info',
  'l'.repeat(70),
  'e'.repeat(70),
];

type Tree = { value: BValue; list: BValue[]; dict: BDict };

/** Values a few levels deep, integers of every size, keys of any bytes (some repeated across levels). */
const bvalue: fc.Arbitrary<BValue> = fc.letrec<Tree>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })),
    fc.uint8Array({ maxLength: 24 }),
    tie('list'),
    tie('dict'),
  ),
  list: fc.array(tie('value'), { maxLength: 4 }),
  dict: fc.dictionary(
    fc.oneof(fc.constantFrom('info', 'announce', 'name', 'a'), fc.string({ unit: 'binary-ascii', maxLength: 6 })),
    tie('value'),
    { maxKeys: 4 },
  ),
})).value;

/** A .torrent as trackers meet them: keys in any order (real files have them unsorted), an info dictionary inside. */
const torrent = fc
  .record({
    announce: fc.constantFrom('http://tracker.example/announce', 'udp://[::1]:6969'),
    info: fc.record({ name: fc.string({ maxLength: 12 }), 'piece length': fc.nat(), pieces: bytes(20) }),
    extra: fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 6 }), bvalue, { maxKeys: 3 }),
  })
  .chain((t) => {
    const entries: [string, BValue][] = [
      ['announce', latin1(t.announce)],
      ['info', { name: latin1(t.info.name), 'piece length': t.info['piece length'], pieces: t.info.pieces }],
      ...Object.entries(t.extra).filter(([k]) => k !== 'announce' && k !== 'info'),
    ];
    return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length });
  })
  // Written by hand: encode() would sort the keys.
  .map((entries) => {
    const parts = entries.map(([k, v]) => Buffer.concat([latin1(`${k.length}:${k}`), encode(v)]));
    return Buffer.concat([latin1('d'), ...parts, latin1('e')]);
  });

const encodings = fc.oneof(
  { weight: 3, arbitrary: mutated(bvalue.map(encode), BENCODE_TOKENS) },
  { weight: 2, arbitrary: mutated(torrent, BENCODE_TOKENS) },
  { weight: 1, arbitrary: hostile(BENCODE_TOKENS) },
);

/** Runs `decoding`; a BencodeError gives null, anything else thrown fails the property. */
function refusedOrValue<T>(decoding: () => T): T | null {
  try {
    return decoding();
  } catch (err) {
    assert.ok(err instanceof BencodeError, `threw ${err}`);
    assert.ok((err as Error).message.length > 0);
    return null;
  }
}

test('decodePrefix: its end lies inside the input, and the bytes up to it decode alone to the same value', () => {
  fc.assert(
    fc.property(encodings, (input) => {
      const got = refusedOrValue(() => decodePrefix(input));
      if (got === null) return;
      assert.ok(got.end > 0 && got.end <= input.length, `end ${got.end} of ${input.length}`);
      assert.deepEqual(decode(input.subarray(0, got.end)), got.value);
      // And decode() agrees: the whole input is that value exactly when nothing follows it.
      const whole = refusedOrValue(() => decode(input));
      if (got.end === input.length) assert.deepEqual(whole, got.value);
      else assert.equal(whole, null);
    }),
    fuzzParameters(2000),
  );
});

test('lax decode with spans (the torrent directory): spans in order, inside the input, decoding to their values', () => {
  fc.assert(
    fc.property(encodings, (input) => {
      const spans = new Map<string, { start: number; end: number }>();
      const value = refusedOrValue(() => decode(input, { maxDepth: 64, sortedKeys: false, spans }));
      if (value === null) return;
      // Canonical input decodes the same in both modes.
      const strict = refusedOrValue(() => decode(input));
      if (strict !== null) assert.deepEqual(strict, value);
      const isDict = typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
      assert.equal(spans.size, isDict ? Object.keys(value).length : 0);
      let previousEnd = 1;
      for (const [key, span] of spans) {
        assert.ok(previousEnd <= span.start && span.start < span.end && span.end < input.length, `span of ${key}`);
        previousEnd = span.end;
        assert.deepEqual(
          decode(input.subarray(span.start, span.end), { maxDepth: 64, sortedKeys: false }),
          (value as BDict)[key],
        );
      }
    }),
    fuzzParameters(2000),
  );
});

test('any depth limit, any nesting: a value within the limit, else BencodeError (never a stack overflow)', () => {
  const limit = fc.oneof(
    fc.integer({ min: 0, max: 70 }),
    fc.constantFrom(MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 10 * MAX_DEPTH, Number.MAX_SAFE_INTEGER),
  );
  const nesting = fc.record({
    depth: fc.oneof(
      fc.integer({ min: 0, max: 70 }),
      fc.integer({ min: MAX_DEPTH - 2, max: MAX_DEPTH + 2 }),
      fc.constant(5000),
    ),
    open: fc.constantFrom('l', 'd1:a'),
    inner: fc.constantFrom('', 'i1e', '0:', 'le', 'de'),
    closeShort: fc.nat({ max: 2 }),
  });
  fc.assert(
    fc.property(nesting, limit, (n, maxDepth) => {
      // `inner` sits inside the last container: in a dictionary it must be a value, so an empty one takes 0:.
      const inner = n.open === 'l' || n.depth === 0 ? n.inner : n.inner || '0:';
      const closes = Math.max(0, n.depth - n.closeShort);
      const input = latin1(`${n.open.repeat(n.depth)}${inner}${'e'.repeat(closes)}`);
      const value = refusedOrValue(() => decode(input, { maxDepth }));
      const containers = n.depth + (inner === 'le' || inner === 'de' ? 1 : 0);
      const wellFormed = closes === n.depth && (n.depth > 0 || inner !== '');
      const allowed = containers <= Math.min(maxDepth, MAX_DEPTH);
      assert.equal(value !== null, wellFormed && allowed, `depth ${n.depth}, limit ${maxDepth}`);
    }),
    fuzzParameters(1000),
  );
});

// Found by this target: encode() wrote a whole number of 1e21 or more the way String() does, `i1e+21e`, which is not
// bencode (fixed in 17d5499, through BigInt).
test('encode writes every whole number as the bencode integer of its exact value', () => {
  fc.assert(
    fc.property(fc.double({ min: -1e300, max: 1e300, noNaN: true }).filter(Number.isInteger), (n) => {
      const back = decode(encode(n));
      // === : -0 is written as 0, rightly.
      assert.ok(back === (Number.isSafeInteger(n) ? n : BigInt(n)), `${n} came back as ${back}`);
    }),
    fuzzParameters(500),
  );
});
