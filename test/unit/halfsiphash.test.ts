import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CLOCK_SKEW_SECONDS, ConnectionIds, WINDOW_SECONDS } from '../../src/tracker/connection-id.ts';
import { halfSipHash24 } from '../../src/tracker/halfsiphash.ts';

// The reference key 00 01 .. 07 as the two little-endian words the function takes.
const K0 = 0x03020100;
const K1 = 0x07060504;
const MESSAGE = Uint8Array.from({ length: 64 }, (_, i) => i);

/** Tag bytes as the reference prints them (little-endian) → the unsigned number the function returns. */
const tagOf = (hex: string): number => Buffer.from(hex, 'hex').readUInt32LE(0);

test('HalfSipHash-2-4 (32-bit) reference vectors, n = 0..7', () => {
  const expected = ['a9359f5b', '27475ab8', 'fa62a603', '8afee704', '2a6e4689', 'c5fab669', '5863fc23', '8bcf63c5'];
  assert.equal(tagOf(expected[0]), 0x5b9f35a9);
  expected.forEach((hex, n) => {
    assert.equal(halfSipHash24(K0, K1, MESSAGE, 0, n), tagOf(hex), `n=${n}`);
  });
});

// vectors_hsip32 from the reference implementation (github.com/veorq/SipHash, vectors.h): key 00..07, message 00..n-1.
const VECTORS_HSIP32 = [
  'a9359f5b',
  '27475ab8',
  'fa62a603',
  '8afee704',
  '2a6e4689',
  'c5fab669',
  '5863fc23',
  '8bcf63c5',
  'd0b8848f',
  'f806e779',
  '94b07934',
  '08083050',
  '57f0872f',
  '77e663ff',
  'd6fff87c',
  '74fe2b97',
  'd9b5ac84',
  'c474645b',
  '465b8d9b',
  '7befe387',
  'e34d1045',
  '613f62b3',
  '70f367fe',
  'e6adb8bd',
  '27400c63',
  '26787875',
  '4f567b5f',
  '3ab0e669',
  'b0644000',
  'ff670fb4',
  '509e338b',
  '5d589f1a',
  'fee72112',
  '33753259',
  '6a434f8c',
  'fe28b729',
  'e75cc6ec',
  '697e8d54',
  '63688b0f',
  '650b62b4',
  'b6bc1840',
  '5d074505',
  '2442fd2e',
  '7bb7863a',
  '7705d548',
  'd75208b1',
  'b6d499c8',
  '0892202e',
  '69e12ce3',
  '8db580e5',
  '369764c6',
  '016e0204',
  '3b85f3d4',
  'fedb66be',
  '1e692a3a',
  'c68984c0',
  'a5c5b940',
  '9be9e88c',
  '7dbc8140',
  '7c078ec5',
  'd4e76c73',
  '428fcbb9',
  'bd83997a',
  '59ea4a74',
];

test('HalfSipHash-2-4 (32-bit) reference vectors, n = 0..63 (multi-block messages)', () => {
  assert.equal(VECTORS_HSIP32.length, 64);
  VECTORS_HSIP32.forEach((hex, n) => {
    assert.equal(halfSipHash24(K0, K1, MESSAGE, 0, n), tagOf(hex), `n=${n}`);
  });
});

test('property: the tag depends only on msg[off, off+len) and is an unsigned 32-bit integer', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      (k0, k1, msg, before, after) => {
        const tag = halfSipHash24(k0, k1, msg, 0, msg.length);
        assert.ok(Number.isInteger(tag) && tag >= 0 && tag <= 0xffffffff);
        const framed = Uint8Array.from([...before, ...msg, ...after]);
        assert.equal(halfSipHash24(k0, k1, framed, before.length, msg.length), tag);
        // Keys may be given signed or unsigned: only the 32 bits count.
        assert.equal(halfSipHash24(k0 | 0, k1 | 0, msg, 0, msg.length), tag);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: changing one message bit, the length or the key changes the tag', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(7), (msg, at, bit) => {
      const i = at % msg.length;
      const tag = halfSipHash24(K0, K1, msg, 0, msg.length);
      const flipped = Uint8Array.from(msg);
      flipped[i] ^= 1 << bit;
      assert.notEqual(halfSipHash24(K0, K1, flipped, 0, msg.length), tag);
      assert.notEqual(halfSipHash24(K0, K1, msg, 0, msg.length - 1), tag);
      assert.notEqual(halfSipHash24(K0 ^ (1 << bit), K1, msg, 0, msg.length), tag);
      assert.notEqual(halfSipHash24(K0, K1 ^ (1 << (bit + 24)), msg, 0, msg.length), tag);
    }),
    { numRuns: 300 },
  );
});

const KEY = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
const V4 = Uint8Array.from([192, 0, 2, 1]);
const V6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

function issue(ids: ConnectionIds, addr: Uint8Array, now: number): [number, number] {
  const hi = ids.window(now);
  return [hi, ids.mac(hi, addr, addr.length)];
}

test('window() counts two-minute windows', () => {
  const ids = new ConnectionIds(KEY);
  assert.equal(WINDOW_SECONDS, 120);
  assert.equal(ids.window(0), 0);
  assert.equal(ids.window(119), 0);
  assert.equal(ids.window(120), 1);
  assert.equal(ids.window(239.9), 1);
  assert.equal(ids.window(1_700_000_000), Math.floor(1_700_000_000 / 120));
});

test('the MAC is HalfSipHash of the big-endian window and the address under the key', () => {
  const ids = new ConnectionIds(KEY);
  for (const addr of [V4, V6]) {
    const window = 0x01020304;
    const message = Uint8Array.from([1, 2, 3, 4, ...addr]);
    assert.equal(ids.mac(window, addr, addr.length), halfSipHash24(K0, K1, message, 0, message.length));
  }
  // Same key, same MAC; the address length counts.
  assert.equal(new ConnectionIds(KEY).mac(5, V6, 16), ids.mac(5, V6, 16));
  assert.notEqual(ids.mac(5, V6, 4), ids.mac(5, V6, 16));
});

test('an id verifies in its window and the next, and in the last seconds before its window, not earlier, not two windows later', () => {
  const ids = new ConnectionIds(KEY);
  for (const addr of [V4, V6]) {
    const madeAt = 10 * WINDOW_SECONDS + 37;
    const [hi, lo] = issue(ids, addr, madeAt);
    const ok = (now: number) => ids.verify(hi, lo, addr, addr.length, now);
    assert.ok(ok(madeAt));
    assert.ok(ok(10 * WINDOW_SECONDS));
    assert.ok(ok(11 * WINDOW_SECONDS - 1));
    assert.ok(ok(11 * WINDOW_SECONDS));
    assert.ok(ok(12 * WINDOW_SECONDS - 1));
    assert.ok(!ok(12 * WINDOW_SECONDS));
    assert.ok(!ok(13 * WINDOW_SECONDS));
    // Another worker's clock may pass the window's start a moment before this one's.
    assert.ok(ok(10 * WINDOW_SECONDS - 1));
    assert.ok(ok(10 * WINDOW_SECONDS - CLOCK_SKEW_SECONDS));
    assert.ok(!ok(10 * WINDOW_SECONDS - CLOCK_SKEW_SECONDS - 1));
    assert.ok(!ok(9 * WINDOW_SECONDS));
    assert.ok(!ok(0));
  }
});

test('a different address, a flipped MAC bit, another window or another key fails', () => {
  const ids = new ConnectionIds(KEY);
  const now = 5000;
  const [hi, lo] = issue(ids, V4, now);
  assert.ok(ids.verify(hi, lo, V4, 4, now));
  assert.ok(!ids.verify(hi, lo, Uint8Array.from([192, 0, 2, 2]), 4, now));
  assert.ok(!ids.verify(hi, lo, V6, 16, now));
  for (let bit = 0; bit < 32; bit++) assert.ok(!ids.verify(hi, (lo ^ (1 << bit)) >>> 0, V4, 4, now), `bit ${bit}`);
  // The previous window's id for the same address is a different id.
  assert.ok(!ids.verify(hi - 1, lo, V4, 4, now));
  assert.ok(!new ConnectionIds(Uint8Array.from([1, 1, 2, 3, 4, 5, 6, 7])).verify(hi, lo, V4, 4, now));
});

test('property: ids verify exactly in their own window, the next and the skew before, only for their address', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.integer({ min: -3 * WINDOW_SECONDS, max: 4 * WINDOW_SECONDS }),
      fc.nat(),
      fc.nat(31),
      (key, addr, madeAt, delta, which, bit) => {
        const ids = new ConnectionIds(key);
        const [hi, lo] = issue(ids, addr, madeAt);
        const now = Math.max(0, madeAt + delta);
        const windows = ids.window(now) - ids.window(madeAt);
        const early = ids.window(now + CLOCK_SKEW_SECONDS) === ids.window(madeAt);
        assert.equal(ids.verify(hi, lo, addr, addr.length, now), windows === 0 || windows === 1 || early);
        const nowOk = madeAt;
        assert.equal(ids.verify(hi, (lo ^ (1 << bit)) >>> 0, addr, addr.length, nowOk), false);
        const other = Uint8Array.from(addr);
        other[which % addr.length] ^= 1 << (bit % 8);
        assert.equal(ids.verify(hi, lo, other, addr.length, nowOk), false);
      },
    ),
    { numRuns: 300 },
  );
});

test('the default key is random', () => {
  const a = new ConnectionIds();
  const b = new ConnectionIds();
  // Two random keys agreeing on three MACs would be a 2^-96 event.
  const same = [1, 2, 3].every((w) => a.mac(w, V4, 4) === b.mac(w, V4, 4));
  assert.equal(same, false);
});
