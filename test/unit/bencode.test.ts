import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import bencode from 'bencode';
import fc from 'fast-check';
import {
  type BDict,
  BencodeError,
  BencodeWriter,
  type BValue,
  byteStringSize,
  decode,
  decodePrefix,
  encode,
  encodeKey,
} from '../../src/protocol/bencode.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A comparable plain form: Uint8Array (not Buffer), plain objects, -0 as 0. */
function plain(v: unknown): unknown {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (typeof v === 'bigint') return v;
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).map((k) => [k, plain((v as Record<string, unknown>)[k])]));
  }
  throw new Error(`unexpected value ${String(v)}`);
}

/** What decode() should give back for a value: integers are numbers when safe, bigints otherwise. */
function expectedAfterDecode(v: BValue): unknown {
  if (typeof v === 'number' || typeof v === 'bigint') {
    const big = BigInt(v);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(expectedAfterDecode);
  return Object.fromEntries(Object.keys(v).map((k) => [k, expectedAfterDecode(v[k])]));
}

type Tree = {
  value: BValue;
  int: number | bigint;
  bytes: Uint8Array;
  list: BValue[];
  dict: BDict;
};

const bvalue: fc.Arbitrary<BValue> = fc.letrec<Tree>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('int'), tie('bytes'), tie('list'), tie('dict')),
  int: fc.oneof(
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
    fc.constantFrom(2 ** 53, -(2 ** 53), 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n)),
  ),
  bytes: fc.uint8Array({ maxLength: 40 }),
  list: fc.array(tie('value'), { maxLength: 5 }),
  // Arbitrary latin1 keys: every char is one byte, so binary keys such as info hashes are covered.
  dict: fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 8 }), tie('value'), { maxKeys: 5 }),
})).value;

type ValueTree = { value: BValue; list: BValue[]; dict: BDict };

/** Values with safe integers and short byte strings, a few levels deep; `dictOf` makes the dictionaries' keys. */
function valueTree(dictOf: (value: fc.Arbitrary<BValue>) => fc.Arbitrary<BDict>): fc.Arbitrary<BValue> {
  return fc.letrec<ValueTree>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(fc.integer({ min: -20, max: 20 }), fc.maxSafeInteger()),
      fc.uint8Array({ maxLength: 40 }),
      tie('list'),
      tie('dict'),
    ),
    list: fc.array(tie('value'), { maxLength: 5 }),
    dict: dictOf(tie('value')),
  })).value;
}

/** Asserts that decoding `input` either succeeds canonically or throws BencodeError, and nothing else. */
function decodeIsTotal(input: Uint8Array): void {
  let value: BValue;
  try {
    value = decode(input);
  } catch (e) {
    if (!(e instanceof BencodeError))
      throw new Error(`decode threw ${String(e)} for ${Buffer.from(input).toString('hex')}`);
    assert.equal((e as Error).name, 'BencodeError');
    return;
  }
  // A successful decode is canonical: encoding the value gives the very same bytes.
  assert.deepEqual(Buffer.from(encode(value)), Buffer.from(input));
}

function assertRefused(text: string | Uint8Array, pattern?: RegExp): void {
  const input = typeof text === 'string' ? latin1(text) : text;
  assert.throws(
    () => decode(input),
    (e: unknown) => e instanceof BencodeError && (pattern === undefined || pattern.test((e as Error).message)),
    `expected BencodeError for ${JSON.stringify(typeof text === 'string' ? text : Buffer.from(text).toString('hex'))}`,
  );
}

test('encode gives the BEP 3 forms for known values', () => {
  assert.equal(encode(0).toString('latin1'), 'i0e');
  assert.equal(encode(-42).toString('latin1'), 'i-42e');
  assert.equal(encode(2n ** 64n).toString('latin1'), 'i18446744073709551616e');
  assert.equal(encode(latin1('spam')).toString('latin1'), '4:spam');
  assert.equal(encode(new Uint8Array(0)).toString('latin1'), '0:');
  assert.equal(encode([latin1('spam'), 7]).toString('latin1'), 'l4:spami7ee');
  assert.equal(encode({ b: 1, a: latin1('x'), ab: [] }).toString('latin1'), 'd1:a1:x2:able1:bi1ee');
  // Keys sort by their bytes, not by JavaScript's order for integer-like keys.
  assert.equal(encode({ 10: 1, 9: 2, '\xff': 3 }).toString('latin1'), 'd2:10i1e1:9i2e1:\xffi3ee');
  assert.throws(() => encode(1.5), TypeError);
});

test('decode reads known values', () => {
  assert.equal(decode(latin1('i0e')), 0);
  assert.equal(decode(latin1('i-7e')), -7);
  assert.equal(decode(latin1('i9007199254740991e')), Number.MAX_SAFE_INTEGER);
  assert.equal(decode(latin1('i9007199254740992e')), 2n ** 53n);
  assert.equal(decode(latin1('i-9007199254740992e')), -(2n ** 53n));
  assert.equal(decode(latin1('i123456789012345678901234567890e')), 123456789012345678901234567890n);
  assert.deepEqual(plain(decode(latin1('4:spam'))), Uint8Array.from(latin1('spam')));
  assert.deepEqual(plain(decode(latin1('0:'))), new Uint8Array(0));
  assert.deepEqual(plain(decode(latin1('le'))), []);
  assert.deepEqual(plain(decode(latin1('de'))), {});
  assert.deepEqual(plain(decode(latin1('d3:cow3:moo4:spaml1:a1:bee'))), {
    cow: Uint8Array.from(latin1('moo')),
    spam: [Uint8Array.from(latin1('a')), Uint8Array.from(latin1('b'))],
  });
  // Binary keys come back as latin1 strings, one char per byte.
  const key = Buffer.from([0x00, 0xff, 0x80, 0x41]);
  const input = Buffer.concat([latin1('d4:'), key, latin1('i1ee')]);
  assert.deepEqual(Object.keys(decode(input) as BDict), ['\x00\xff\x80A']);
  // `__proto__` is an ordinary key, not a prototype change.
  const proto = decode(latin1('d9:__proto__i1ee')) as BDict;
  assert.equal(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, 1);
});

test('property: decode(encode(v)) gives v back', () => {
  fc.assert(
    fc.property(bvalue, (v) => {
      const bytes = encode(v);
      assert.deepEqual(plain(decode(bytes)), expectedAfterDecode(v));
      // And the encoding is canonical: decoding and encoding again is byte-identical.
      assert.deepEqual(encode(decode(bytes)), bytes);
    }),
    { numRuns: 300 },
  );
});

test('property: decodePrefix reports where the value ended and ignores what follows', () => {
  fc.assert(
    fc.property(bvalue, fc.uint8Array({ maxLength: 10 }), (v, tail) => {
      const bytes = encode(v);
      const { value, end } = decodePrefix(Buffer.concat([bytes, tail]));
      assert.equal(end, bytes.length);
      assert.deepEqual(plain(value), expectedAfterDecode(v));
    }),
    { numRuns: 150 },
  );
});

// For the cross-check with the npm package: its decoder turns keys into UTF-8 text, so keys here are valid Unicode
// strings, stored in our BDict as the latin1 spelling of their UTF-8 bytes; integers stay in its safe range.
const unicodeKeyed = valueTree((value) =>
  fc
    .array(
      fc.tuple(
        // The npm decoder turns keys containing U+FFFD into hex, taking them for invalid UTF-8.
        fc.string({ unit: 'grapheme', maxLength: 6 }).filter((k) => !k.includes('\uFFFD')),
        value,
      ),
      { maxLength: 5 },
    )
    .map((entries) => {
      const d: BDict = {};
      for (const [k, v] of entries) d[Buffer.from(k, 'utf8').toString('latin1')] = v;
      return d;
    }),
);

function utf8Keys(v: unknown): unknown {
  if (v instanceof Uint8Array || typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(utf8Keys);
  return Object.fromEntries(
    Object.keys(v).map((k) => [latin1(k).toString('utf8'), utf8Keys((v as Record<string, unknown>)[k])]),
  );
}

test('property: decode agrees with the npm bencode package on valid input', () => {
  fc.assert(
    fc.property(unicodeKeyed, (v) => {
      const bytes = encode(v);
      const ours = plain(utf8Keys(decode(bytes)));
      const theirs = plain(bencode.decode(Uint8Array.from(bytes)));
      assert.deepEqual(ours, theirs);
    }),
    { numRuns: 300 },
  );
});

const asciiKeyed = valueTree((value) =>
  fc.dictionary(fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), value, { maxKeys: 5 }),
);

test('property: encode agrees byte for byte with the npm bencode package (ASCII keys)', () => {
  fc.assert(
    fc.property(asciiKeyed, (v) => {
      assert.deepEqual(Buffer.from(encode(v)), Buffer.from(bencode.encode(v)));
    }),
    { numRuns: 300 },
  );
});

/** Writes `v` with BencodeWriter, exercising each of its methods; dict keys are written sorted, as BEP 3 wants. */
function writeValue(w: BencodeWriter, v: BValue, choice: number): void {
  if (typeof v === 'number') w.int(v);
  else if (typeof v === 'bigint') w.int(Number(v));
  else if (v instanceof Uint8Array) {
    if (choice % 3 === 0) w.bytes(v);
    else if (choice % 3 === 1) {
      // The same bytes as a slice of a larger buffer.
      const padded = Buffer.concat([Buffer.from([1, 2, 3]), v, Buffer.from([4, 5])]);
      w.bytes(padded, 3, 3 + v.length);
    } else {
      const at = w.reserveBytes(v.length);
      w.buf.set(v, at);
    }
  } else if (Array.isArray(v)) {
    w.list();
    for (const item of v) writeValue(w, item, choice + 1);
    w.end();
  } else {
    w.dict();
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(latin1(a), latin1(b)));
    for (const k of keys) {
      if (choice % 2 === 0) w.raw(encodeKey(k));
      else w.text(k);
      writeValue(w, v[k], choice + 1);
    }
    w.end();
  }
}

const safeValue = valueTree((value) =>
  fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 8 }), value, { maxKeys: 5 }),
);

test('property: BencodeWriter output decodes to what was written and matches encode()', () => {
  const buf = new Uint8Array(1 << 16);
  fc.assert(
    fc.property(safeValue, fc.nat(5), fc.nat(8), (v, choice, offset) => {
      buf.fill(0xaa);
      const w = new BencodeWriter(buf).reset(offset);
      writeValue(w, v, choice);
      const written = buf.subarray(offset, w.pos);
      assert.deepEqual(plain(decode(written)), expectedAfterDecode(v));
      assert.deepEqual(Buffer.from(written), encode(v));
    }),
    { numRuns: 300 },
  );
});

test('BencodeWriter helpers: byte(), byteStringSize(), encodeKey(), reset()', () => {
  const w = new BencodeWriter(new Uint8Array(64));
  w.dict()
    .raw(encodeKey('interval'))
    .int(1800)
    .text('peers')
    .bytes(Buffer.from([1, 2, 3, 4, 5, 6]))
    .end();
  assert.equal(
    Buffer.from(w.buf.subarray(0, w.pos)).toString('latin1'),
    'd8:intervali1800e5:peers6:\x01\x02\x03\x04\x05\x06e',
  );
  assert.deepEqual(plain(encodeKey('peers')), Uint8Array.from(latin1('5:peers')));
  for (const n of [0, 1, 9, 10, 99, 100, 12345]) assert.equal(byteStringSize(n), encode(new Uint8Array(n)).length);
  w.reset().int(-5).int(0).int(7);
  assert.equal(Buffer.from(w.buf.subarray(0, w.pos)).toString('latin1'), 'i-5ei0ei7e');
  assert.equal(w.reset(3).byte(0x41).pos, 4);
});

test('non-canonical and malformed inputs are refused with BencodeError', () => {
  // Integers.
  assertRefused('i-0e', /malformed integer/);
  assertRefused('i03e', /malformed integer/);
  assertRefused('i-03e', /malformed integer/);
  assertRefused('i00e', /malformed integer/);
  assertRefused('ie', /malformed integer/);
  assertRefused('i-e', /malformed integer/);
  assertRefused('i+1e', /malformed integer/);
  assertRefused('i 1e', /malformed integer/);
  assertRefused('i1.5e', /malformed integer/);
  assertRefused('i12', /unterminated integer/);
  // String lengths.
  assertRefused('01:a', /string length/);
  assertRefused('00:', /string length/);
  assertRefused('-1:a', /unexpected byte/);
  assertRefused('5:abc', /past the end/);
  assertRefused('3abc', /string length/);
  assertRefused('99999999999999999:a', /string length/);
  // Dictionaries: unsorted, duplicate, non-string keys, missing values.
  assertRefused('d1:bi1e1:ai2ee', /unsorted or repeated/);
  assertRefused('d1:ai1e1:ai2ee', /unsorted or repeated/);
  assertRefused('d2:abi1e1:ai2ee', /unsorted or repeated/);
  assertRefused('di1ei2ee', /not a byte string/);
  assertRefused('dlei2ee', /not a byte string/);
  assertRefused('d1:ae');
  // Trailing bytes and truncation.
  assertRefused('i1ei2e', /trailing bytes/);
  assertRefused('i1e ', /trailing bytes/);
  assertRefused('lee', /trailing bytes/);
  assertRefused('4:spam\n', /trailing bytes/);
  assertRefused('', /end of input/);
  assertRefused('l', /end of input/);
  assertRefused('d', /end of input/);
  assertRefused('li1e', /end of input/);
  assertRefused('d1:a', /end of input/);
  // Other leading bytes.
  assertRefused('e', /unexpected byte/);
  assertRefused('x', /unexpected byte/);
  assertRefused(new Uint8Array([0xff]), /unexpected byte/);
});

test('depth limit: deep nesting throws BencodeError, never a stack overflow', () => {
  for (const open of ['l', 'd1:a']) {
    const deep = latin1(open.repeat(10_000));
    assertRefused(deep, /nesting too deep/);
    const balanced = latin1(`${'l'.repeat(10_000)}${'e'.repeat(10_000)}`);
    assertRefused(balanced, /nesting too deep/);
  }
  // 100,000 levels, with the default limit.
  assertRefused(latin1('l'.repeat(100_000)), /nesting too deep/);
  // The default limit is 64 levels.
  const nested = (n: number): Buffer => latin1(`${'l'.repeat(n)}${'e'.repeat(n)}`);
  assert.doesNotThrow(() => decode(nested(64)));
  assertRefused(nested(65), /nesting too deep/);
  // A caller's limit is honoured.
  assert.doesNotThrow(() => decode(nested(3), { maxDepth: 3 }));
  assert.throws(() => decode(nested(4), { maxDepth: 3 }), BencodeError);
  assert.throws(() => decode(latin1('d1:ad1:ad1:aleeee'), { maxDepth: 3 }), BencodeError);
  assert.throws(() => decodePrefix(nested(2), { maxDepth: 1 }), BencodeError);
  // Depth counts containers only: scalars at the limit are fine.
  assert.deepEqual(plain(decode(latin1('li1e4:spame'), { maxDepth: 1 })), [1, Uint8Array.from(latin1('spam'))]);
});

test('depth limit: a large caller-chosen maxDepth still fails with BencodeError, not RangeError', () => {
  const n = 20_000;
  const balanced = latin1(`${'l'.repeat(n)}${'e'.repeat(n)}`);
  let thrown: unknown = null;
  try {
    decode(balanced, { maxDepth: n + 1 });
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof BencodeError, `threw ${String(thrown)}`);
});

test('property: decode of arbitrary bytes returns canonically or throws BencodeError only', { timeout: 20_000 }, () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodeIsTotal), { numRuns: 1000 });
});

test('property: decode of bencode-alphabet soup returns canonically or throws BencodeError only', () => {
  const token = fc.constantFrom(
    'i',
    'e',
    'l',
    'd',
    '-',
    ':',
    '0',
    '1',
    '2',
    '9',
    '10:',
    '1:',
    '2:',
    'i1e',
    'x',
    '\xff',
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 60 }), (tokens) => decodeIsTotal(latin1(tokens.join('')))),
    { numRuns: 1000 },
  );
});

type Mutation =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x30, 0x31, 0x2d, 0x3a, 0x64, 0x65, 0x69, 0x6c)),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x30, 0x31, 0x2d, 0x3a, 0x64, 0x65, 0x69, 0x6c)),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  const bytes = [...input];
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % (bytes.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'set' && bytes.length > 0) bytes[at] = m.byte;
    else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
    else if (m.kind === 'delete') bytes.splice(at, 1);
    else if (m.kind === 'truncate') bytes.length = at;
  }
  return Uint8Array.from(bytes);
}

test('property: decode of mutated valid encodings returns canonically or throws BencodeError only', () => {
  fc.assert(
    fc.property(bvalue, fc.array(mutation, { minLength: 1, maxLength: 4 }), (v, mutations) => {
      decodeIsTotal(mutate(encode(v), mutations));
    }),
    { numRuns: 1000 },
  );
});

test('sortedKeys: false reads keys out of order (real .torrent files have them) but never a repeated one', () => {
  assert.deepEqual(plain(decode(latin1('d1:bi1e1:ai2ee'), { maxDepth: 8, sortedKeys: false })), { b: 1, a: 2 });
  assert.throws(() => decode(latin1('d1:bi1e1:ai2ee')), BencodeError);
  assert.throws(() => decode(latin1('d1:ai1e1:ai2ee'), { maxDepth: 8, sortedKeys: false }), BencodeError);
});

test('spans: where each value of the top-level dictionary lies', () => {
  const input = 'd1:ai1e4:infod1:xli1eee1:z3:abce';
  const spans = new Map<string, { start: number; end: number }>();
  decode(latin1(input), { maxDepth: 8, spans });
  const text = (k: string) => {
    const s = spans.get(k);
    assert.ok(s !== undefined);
    return input.slice(s.start, s.end);
  };
  assert.equal(text('a'), 'i1e');
  assert.equal(text('info'), 'd1:xli1eee');
  assert.equal(text('z'), '3:abc');
  assert.equal(spans.size, 3, 'nested keys have no span');
});

test('property: the info span of a torrent hashes like the info dictionary encoded alone', () => {
  const torrent = fc.record({
    name: fc.string({ minLength: 1, maxLength: 20 }),
    pieceLength: fc.constantFrom(16384, 32768, 262144),
    pieces: fc.integer({ min: 1, max: 5 }).chain((n) => fc.uint8Array({ minLength: 20 * n, maxLength: 20 * n })),
    length: fc.integer({ min: 1, max: 2 ** 40 }),
    extra: fc.dictionary(fc.string({ unit: 'grapheme-ascii', maxLength: 8 }), fc.uint8Array({ maxLength: 30 }), {
      maxKeys: 4,
    }),
  });
  fc.assert(
    fc.property(torrent, (t) => {
      const info = { name: t.name, 'piece length': t.pieceLength, pieces: t.pieces, length: t.length };
      const file = bencode.encode({ ...t.extra, announce: 'http://tracker.example/announce', info });
      const spans = new Map<string, { start: number; end: number }>();
      decode(file, { maxDepth: 8, sortedKeys: false, spans });
      const span = spans.get('info');
      assert.ok(span !== undefined);
      const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
      assert.equal(sha1(file.subarray(span.start, span.end)), sha1(bencode.encode(info)));
    }),
    { numRuns: 200 },
  );
});
