import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ascii,
  bytesEqual,
  DECODE_MALFORMED,
  DECODE_TOO_LONG,
  parseDecimal,
  percentDecode,
  QueryCursor,
  scanQuery,
} from '../../src/protocol/query.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Decodes all of `text` into a fresh buffer; returns the result code and the bytes written. */
function decodeText(text: string, max = 1000): { n: number; bytes: Buffer } {
  const src = latin1(text);
  const dst = Buffer.alloc(max + 8);
  const n = percentDecode(src, 0, src.length, dst, 0, max);
  return { n, bytes: dst.subarray(0, Math.max(n, 0)) };
}

/** How one byte is written in an encoded query: `%xx` in some letter case, or raw when that is legal. */
const encodingChoice = fc.constantFrom('upper', 'lower', 'mixed', 'raw');

function encodeByte(b: number, choice: string): string {
  const hex = b.toString(16).padStart(2, '0');
  const ch = String.fromCharCode(b);
  if (choice === 'raw' && UNRESERVED.test(ch)) return ch;
  if (choice === 'lower') return `%${hex}`;
  if (choice === 'mixed') return `%${hex[0].toUpperCase()}${hex[1]}`;
  return `%${hex.toUpperCase()}`;
}

test('percentDecode decodes known inputs', () => {
  assert.deepEqual(decodeText('abc'), { n: 3, bytes: latin1('abc') });
  assert.deepEqual(decodeText('%41%62%7e'), { n: 3, bytes: latin1('Ab~') });
  assert.deepEqual(decodeText('%00%ff%FF%fF'), { n: 4, bytes: Buffer.from([0, 0xff, 0xff, 0xff]) });
  // `+` is not a space here: a binary hash must not gain spaces.
  assert.deepEqual(decodeText('a+b'), { n: 3, bytes: latin1('a+b') });
  assert.deepEqual(decodeText('%2B'), { n: 1, bytes: latin1('+') });
  assert.deepEqual(decodeText('%25'), { n: 1, bytes: latin1('%') });
  assert.deepEqual(decodeText(''), { n: 0, bytes: Buffer.alloc(0) });
});

test('property: percentDecode inverts a full percent-encoding of arbitrary bytes (upper- and lower-case hex)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('upper', 'lower', 'mixed'), (bytes, choice) => {
      const text = [...bytes].map((b) => encodeByte(b, choice)).join('');
      const { n, bytes: out } = decodeText(text);
      assert.equal(n, bytes.length);
      assert.deepEqual(Uint8Array.from(out), bytes);
    }),
    { numRuns: 300 },
  );
});

test('property: percentDecode inverts an encoding mixing escapes (any case) with raw unreserved bytes', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), encodingChoice), { maxLength: 64 }),
      fc.string({ maxLength: 5 }),
      fc.string({ maxLength: 5 }),
      fc.nat(10),
      (pairs, before, after, dstOff) => {
        const bytes = Uint8Array.from(pairs.map(([b]) => b));
        const encoded = pairs.map(([b, c]) => encodeByte(b, c)).join('');
        // Decode a range inside a larger buffer, into an offset of the destination.
        const src = latin1(before + encoded + after);
        const dst = Buffer.alloc(dstOff + bytes.length + 4, 0xee);
        const n = percentDecode(src, before.length, before.length + encoded.length, dst, dstOff, bytes.length);
        assert.equal(n, bytes.length);
        assert.deepEqual(Uint8Array.from(dst.subarray(dstOff, dstOff + n)), bytes);
        // Nothing outside [dstOff, dstOff + n) is touched.
        assert.ok(dst.subarray(0, dstOff).every((b) => b === 0xee));
        assert.ok(dst.subarray(dstOff + n).every((b) => b === 0xee));
      },
    ),
    { numRuns: 300 },
  );
});

test('property: bytes other than % pass through unchanged', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      const bytes = raw.map((b) => (b === 0x25 ? 0x26 : b));
      const dst = new Uint8Array(64);
      const n = percentDecode(bytes, 0, bytes.length, dst, 0, 64);
      assert.equal(n, bytes.length);
      assert.deepEqual(dst.subarray(0, n), bytes);
    }),
    { numRuns: 200 },
  );
});

test('malformed escapes give DECODE_MALFORMED, at the end and in the middle', () => {
  const bad = ['%', '%4', '%zz', '%z4', '%4z', '%g0', '%0g', '% 1', '%%41', '%-1', '%+1'];
  for (const esc of bad) {
    // The bytes after a short escape are not hex digits, so they cannot complete it.
    for (const text of [esc, `xy${esc}`, `${esc}xy`, `xy${esc}zw`, `%41${esc}%42`]) {
      assert.equal(decodeText(text).n, DECODE_MALFORMED, `${JSON.stringify(text)} should be malformed`);
    }
  }
  // An escape cut off by `end`, even when the bytes after `end` would complete it.
  const src = latin1('ab%41');
  const dst = new Uint8Array(8);
  assert.equal(percentDecode(src, 0, 4, dst, 0, 8), DECODE_MALFORMED);
  assert.equal(percentDecode(src, 0, 3, dst, 0, 8), DECODE_MALFORMED);
  assert.equal(percentDecode(src, 0, 5, dst, 0, 8), 3);
});

const hexDigit = fc.constantFrom(...'0123456789abcdefABCDEF');
const notHex = fc.constantFrom('g', 'z', 'G', ' ', '%', '/', ':', '@', '`', '\x00', '\xff');

test('property: a bad escape anywhere makes the whole value DECODE_MALFORMED', () => {
  const badEscape = fc.oneof(
    fc.constant('%'),
    hexDigit.map((h) => `%${h}`),
    fc.tuple(notHex, hexDigit).map(([x, h]) => `%${x}${h}`),
    fc.tuple(hexDigit, notHex).map(([h, x]) => `%${h}${x}`),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 10 }), badEscape, fc.uint8Array({ maxLength: 10 }), (a, esc, b) => {
      // Before and after the bad escape: fully encoded bytes (so a short escape is followed by '%', not hex).
      const full = (u: Uint8Array) => [...u].map((x) => encodeByte(x, 'upper')).join('');
      assert.equal(decodeText(full(a) + esc).n, DECODE_MALFORMED);
      assert.equal(decodeText(full(a) + esc + full(b)).n, DECODE_MALFORMED);
    }),
    { numRuns: 300 },
  );
});

test('max bounds the output: one byte over gives DECODE_TOO_LONG', () => {
  assert.equal(decodeText('abc', 2).n, DECODE_TOO_LONG);
  assert.equal(decodeText('abc', 3).n, 3);
  assert.equal(decodeText('%41%42%43', 2).n, DECODE_TOO_LONG);
  assert.equal(decodeText('%41%42%43', 3).n, 3);
  assert.equal(decodeText('a', 0).n, DECODE_TOO_LONG);
  assert.equal(decodeText('', 0).n, 0);
});

test('property: decoding n bytes with max < n gives DECODE_TOO_LONG and never writes past max', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), encodingChoice), { minLength: 1, maxLength: 40 }),
      fc.nat(),
      (pairs, m) => {
        const max = m % pairs.length;
        const src = latin1(pairs.map(([b, c]) => encodeByte(b, c)).join(''));
        const dst = Buffer.alloc(64, 0xee);
        assert.equal(percentDecode(src, 0, src.length, dst, 0, max), DECODE_TOO_LONG);
        assert.ok(dst.subarray(max).every((b) => b === 0xee));
      },
    ),
    { numRuns: 300 },
  );
});

/** Reference: split on '&', drop empty pairs, split each at its first '='. */
function referencePairs(s: string): Array<[string, string]> {
  return s
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    });
}

function scannedPairs(src: Uint8Array, start: number, end: number, stopAfter = Infinity): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  scanQuery(src, start, end, (s, ks, ke, vs, ve) => {
    assert.equal(s, src);
    assert.ok(start <= ks && ks <= ke && ke <= vs && vs <= ve && ve <= end, `bad offsets ${[ks, ke, vs, ve]}`);
    pairs.push([
      Buffer.from(s.subarray(ks, ke)).toString('latin1'),
      Buffer.from(s.subarray(vs, ve)).toString('latin1'),
    ]);
    return pairs.length < stopAfter;
  });
  return pairs;
}

test('scanQuery visits known pairs', () => {
  const q = latin1('a=1&b=&c&&d=x=y&=z&');
  assert.deepEqual(scannedPairs(q, 0, q.length), [
    ['a', '1'],
    ['b', ''],
    ['c', ''],
    ['d', 'x=y'],
    ['', 'z'],
  ]);
  assert.deepEqual(scannedPairs(q, 0, 0), []);
  assert.deepEqual(scannedPairs(latin1('&&&'), 0, 3), []);
  // Only [start, end) is scanned.
  assert.deepEqual(scannedPairs(q, 4, 8), [
    ['b', ''],
    ['c', ''],
  ]);
});

const queryChar = fc.constantFrom('a', 'b', 'k', '=', '=', '&', '&', '%', '2', 'F', '+', ' ', '\xff', '\x00', '?');

test('property: scanQuery visits the same pairs as a reference split', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: queryChar, maxLength: 60 }),
      fc.string({ unit: queryChar, maxLength: 5 }),
      fc.string({ unit: queryChar, maxLength: 5 }),
      (q, before, after) => {
        // Scan a range inside a larger buffer; the bytes around it must not leak in.
        const src = latin1(before + q + after);
        assert.deepEqual(scannedPairs(src, before.length, before.length + q.length), referencePairs(q));
      },
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary-ascii', maxLength: 60 }), (q) => {
      assert.deepEqual(scannedPairs(latin1(q), 0, q.length), referencePairs(q));
    }),
    { numRuns: 300 },
  );
});

test('property: a visitor returning false stops the scan', () => {
  fc.assert(
    fc.property(fc.string({ unit: queryChar, maxLength: 60 }), fc.integer({ min: 1, max: 10 }), (q, k) => {
      const all = referencePairs(q);
      assert.deepEqual(scannedPairs(latin1(q), 0, q.length, k), all.slice(0, k));
    }),
    { numRuns: 300 },
  );
});

test('property: QueryCursor gives the reference pairs however each value is read, and decodeValue is percentDecode', () => {
  // Per pair: 0 leaves the value unread (next() must find its end), 1 asks for its end, 2 decodes it (into a small
  // max now and then, so that it fails half-way and next() must still find the end).
  const reads = fc.array(fc.constantFrom(0, 1, 2), { minLength: 40, maxLength: 40 });
  fc.assert(
    fc.property(fc.string({ unit: queryChar, maxLength: 60 }), reads, fc.integer({ min: 0, max: 8 }), (q, how, max) => {
      const ref = referencePairs(q);
      const src = latin1(`${q}&tail`);
      const cursor = new QueryCursor().reset(src, 0, q.length);
      let k = 0;
      for (; cursor.next(); k++) {
        assert.ok(k < ref.length, 'more pairs than the reference');
        const [key, value] = ref[k];
        const { keyStart, keyEnd, valueStart } = cursor;
        const valueEnd = valueStart + value.length;
        assert.equal(Buffer.from(src.subarray(keyStart, keyEnd)).toString('latin1'), key);
        assert.equal(Buffer.from(src.subarray(valueStart, valueEnd)).toString('latin1'), value);
        const way = how[k % how.length];
        if (way === 1) assert.equal(cursor.valueEnd(), valueEnd);
        if (way === 2) {
          const limit = k % 3 === 0 ? max : 64;
          const dst = Buffer.alloc(80);
          const expected = Buffer.alloc(80);
          const n = cursor.decodeValue(dst, 3, limit);
          assert.equal(n, percentDecode(src, valueStart, valueEnd, expected, 3, limit));
          if (n >= 0) {
            assert.deepEqual(dst, expected);
            assert.equal(cursor.valueEnd(), valueEnd);
          }
        }
      }
      assert.equal(k, ref.length);
    }),
    { numRuns: 500 },
  );
});

/** Reference: optional '-', 1 to 20 digits, else NaN. */
function referenceDecimal(s: string): number {
  return /^-?[0-9]{1,20}$/.test(s) ? Number(s) : Number.NaN;
}

function decimal(s: string): number {
  const src = latin1(`x${s}y`);
  return parseDecimal(src, 1, 1 + s.length);
}

test('parseDecimal on known inputs', () => {
  assert.equal(decimal('0'), 0);
  assert.equal(decimal('6881'), 6881);
  assert.equal(decimal('-1'), -1);
  assert.equal(decimal('007'), 7);
  assert.equal(decimal('18446744073709551615'), 2 ** 64);
  // Twenty digits are accepted; beyond 2^53 precision is lost (documented), but only by a few ulps.
  assert.ok(Math.abs(decimal('99999999999999999999') - 1e20) <= 1e20 * 4 * Number.EPSILON);
  for (const bad of ['', '-', '+1', ' 1', '1 ', '1.0', '1e3', '0x10', '--1', '1-', '123456789012345678901']) {
    assert.ok(Number.isNaN(decimal(bad)), `${JSON.stringify(bad)} should be NaN`);
  }
});

test('property: parseDecimal agrees with a reference on digit strings', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 20 }),
      (neg, d) => {
        const s = (neg ? '-' : '') + d;
        const got = decimal(s);
        const want = referenceDecimal(s);
        // Exact while the value is safe; beyond 2^53 the documented precision loss is a few ulps at most.
        if (Math.abs(want) <= Number.MAX_SAFE_INTEGER) assert.equal(got, want, s);
        else assert.ok(Math.abs(got - want) <= Math.abs(want) * 4 * Number.EPSILON, `${s}: ${got} vs ${want}`);
      },
    ),
    { numRuns: 500 },
  );
});

test('property: parseDecimal rejects anything that is not an optional minus and 1-20 digits', () => {
  const ch = fc.constantFrom(...'0123456789', '-', '+', ' ', '.', 'e', 'x', '\x00', '\xff', '/', ':');
  fc.assert(
    fc.property(fc.string({ unit: ch, maxLength: 24 }), (s) => {
      assert.equal(Number.isNaN(decimal(s)), Number.isNaN(referenceDecimal(s)), s);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary-ascii', maxLength: 24 }), (s) => {
      assert.equal(Number.isNaN(decimal(s)), Number.isNaN(referenceDecimal(s)), s);
    }),
    { numRuns: 300 },
  );
});

test('bytesEqual and ascii', () => {
  const src = latin1('xxinfo_hashyy');
  assert.ok(bytesEqual(src, 2, 11, ascii('info_hash')));
  assert.ok(!bytesEqual(src, 2, 10, ascii('info_hash')));
  assert.ok(!bytesEqual(src, 1, 10, ascii('info_hash')));
  assert.ok(!bytesEqual(latin1('info_Hash'), 0, 9, ascii('info_hash')));
  assert.ok(bytesEqual(src, 5, 5, ascii('')));
  assert.deepEqual(Uint8Array.from(ascii('a\xff')), Uint8Array.from([0x61, 0xff]));
});
