import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decimalDigits, writeDecimal } from '../../src/protocol/decimal.ts';

/** Writes `n` between two guard bytes and returns the text, checking the guards and the returned offset. */
function written(n: number): string {
  const out = new Uint8Array(24).fill(0x7e);
  const end = writeDecimal(out, 1, n);
  assert.equal(end, 1 + decimalDigits(n));
  assert.equal(out[0], 0x7e);
  assert.equal(out[end], 0x7e);
  return Buffer.from(out.subarray(1, end)).toString('latin1');
}

test('writeDecimal on the edges of each path', () => {
  for (const n of [0, 9, 10, 99, 100, 2147483647, 2147483648, 4294967296, 2 ** 53 - 1]) {
    assert.equal(written(n), String(n));
  }
});

test('property: writeDecimal writes what String() does, in int32 range and beyond', () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (n) => {
      assert.equal(written(n), String(n));
    }),
    { numRuns: 1000 },
  );
});
