import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatIp, IPV4, IPV6, isV4Mapped, parseIPv4, parseIPv6, writeEndpoint } from '../../src/protocol/ip.ts';

function v4(text: string): number[] | null {
  const out = new Uint8Array(4);
  return parseIPv4(text, out, 0) ? [...out] : null;
}

function v6(text: string): number[] | null {
  const out = new Uint8Array(16);
  return parseIPv6(text, out, 0) ? [...out] : null;
}

/** Node's URL parser prints IPv6 hosts in the RFC 5952 canonical form (without the dotted IPv4 tail). */
function canonical(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** Reference expansion of hex-only IPv6 text (as `canonical` prints it) into 16 bytes. */
function expand(text: string): number[] {
  const [left, right] = text.includes('::') ? text.split('::') : [text, null];
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = groupsOf(left);
  const tail = right === null ? [] : groupsOf(right);
  const groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  assert.equal(groups.length, 8);
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

test('parseIPv4 on known inputs', () => {
  assert.deepEqual(v4('1.2.3.4'), [1, 2, 3, 4]);
  assert.deepEqual(v4('0.0.0.0'), [0, 0, 0, 0]);
  assert.deepEqual(v4('255.255.255.255'), [255, 255, 255, 255]);
  assert.deepEqual(v4('192.168.100.10'), [192, 168, 100, 10]);
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.4.',
    '.1.2.3.4',
    '1..3.4',
    '256.1.1.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.00',
    '1.2.3.-4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.a',
    '1.2.3.4/8',
    '1000.1.1.1',
  ]) {
    assert.equal(v4(bad), null, JSON.stringify(bad));
  }
  // Written at the offset, nothing else touched.
  const out = new Uint8Array(8).fill(0xee);
  assert.ok(parseIPv4('10.20.30.40', out, 2));
  assert.deepEqual([...out], [0xee, 0xee, 10, 20, 30, 40, 0xee, 0xee]);
});

const v4Piece = fc.constantFrom(
  '0',
  '1',
  '9',
  '10',
  '25',
  '99',
  '100',
  '199',
  '249',
  '250',
  '255',
  '256',
  '300',
  '01',
  '00',
  '001',
  '1000',
  '',
);
const v4Text = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(fc.oneof(v4Piece, fc.nat(255).map(String)), { minLength: 4, maxLength: 4 })
      .map((p) => p.join('.')),
  },
  fc.array(v4Piece, { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
  fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 16 }),
  fc.string({ unit: fc.constantFrom(...'0123456789.-+ x:'), maxLength: 16 }),
);

test('property: parseIPv4 accepts exactly what node:net isIPv4 accepts, with the right bytes', () => {
  fc.assert(
    fc.property(v4Text, (s) => {
      const got = v4(s);
      assert.equal(got !== null, isIPv4(s), JSON.stringify(s));
      if (got !== null) assert.deepEqual(got, s.split('.').map(Number));
    }),
    { numRuns: 2000 },
  );
});

test('parseIPv6 on known inputs', () => {
  assert.deepEqual(v6('::'), new Array(16).fill(0));
  assert.deepEqual(v6('::1'), [...new Array(15).fill(0), 1]);
  assert.deepEqual(v6('1::'), [0, 1, ...new Array(14).fill(0)]);
  assert.deepEqual(v6('2001:DB8::ff00:42:8329'), expand('2001:db8::ff00:42:8329'));
  assert.deepEqual(v6('2001:0db8:0000:0000:0000:ff00:0042:8329'), expand('2001:db8::ff00:42:8329'));
  assert.deepEqual(v6('::ffff:1.2.3.4'), [...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]);
  assert.deepEqual(v6('1:2:3:4:5:6:1.2.3.4'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]);
  assert.deepEqual(v6('1:2:3:4:5:6:7::'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]);
  // A zone index is ignored.
  assert.deepEqual(v6('fe80::1%eth0'), expand('fe80::1'));
  assert.deepEqual(v6('fe80::1%25'), expand('fe80::1'));
  for (const bad of [
    '',
    ':',
    ':::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::',
    ':1::',
    '1:',
    '1::2:',
    'g::',
    '::1.2.3',
    '::01.2.3.4',
    '::1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1:2:3:4:5:6::1.2.3.4',
    '1.2.3.4',
    '[::1]',
    ' ::1',
  ]) {
    assert.equal(v6(bad), null, JSON.stringify(bad));
  }
  const out = new Uint8Array(20).fill(0xee);
  assert.ok(parseIPv6('::2', out, 2));
  assert.deepEqual([...out.subarray(0, 2)], [0xee, 0xee]);
  assert.deepEqual([...out.subarray(2, 18)], [...new Array(15).fill(0), 2]);
  assert.deepEqual([...out.subarray(18)], [0xee, 0xee]);
});

const hexGroup = fc.oneof(
  fc.constantFrom('0', '00', '0000', '1', 'f', 'ff', 'FFFF', 'abcd', 'AbCd', '12345', 'fffff', 'g', ''),
  fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)),
);
const v6Piece = fc.oneof(
  { weight: 6, arbitrary: hexGroup },
  { weight: 1, arbitrary: fc.constantFrom('1.2.3.4', '255.255.255.255', '0.0.0.0', '01.2.3.4', '1.2.3', '256.1.1.1') },
);
/** Mostly valid text: 8 groups, maybe with a run of them compressed to '::' and maybe a dotted IPv4 tail. */
const v6Shaped = fc
  .record({
    groups: fc.array(hexGroup, { minLength: 8, maxLength: 8 }),
    gapAt: fc.nat(8),
    gapLength: fc.integer({ min: -1, max: 8 }),
    tail: fc.option(
      fc.oneof(
        v4Piece.map((p) => `${p}.2.3.4`),
        fc.constantFrom('1.2.3.4', '255.0.0.1'),
      ),
    ),
  })
  .map(({ groups, gapAt, gapLength, tail }) => {
    const g = tail === null ? [...groups] : [...groups.slice(0, 6), tail];
    if (gapLength < 0) return g.join(':');
    const at = Math.min(gapAt, g.length);
    const left = g.slice(0, at).join(':');
    const right = g.slice(Math.min(g.length, at + gapLength)).join(':');
    return `${left}::${right}`;
  });

const v6Text = fc.oneof(
  { weight: 3, arbitrary: v6Shaped },
  // Colon-joined pieces, with or without one or more '::'.
  fc
    .tuple(fc.array(v6Piece, { minLength: 0, maxLength: 9 }), fc.array(fc.nat(9), { maxLength: 2 }))
    .map(([pieces, gaps]) => {
      const parts = [...pieces];
      for (const g of gaps) parts.splice(Math.min(g, parts.length), 0, '');
      return parts.join(':');
    }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 }),
  fc.string({ unit: fc.constantFrom('0', '1', 'f', ':', ':', '.', 'ffff', '::', '1.2.3.4'), maxLength: 12 }),
);

test('property: parseIPv6 accepts exactly what node:net isIPv6 accepts, with the right bytes', () => {
  fc.assert(
    fc.property(v6Text, (s) => {
      const got = v6(s);
      assert.equal(got !== null, isIPv6(s), JSON.stringify(s));
      if (got !== null) assert.deepEqual(got, expand(canonical(s)), JSON.stringify(s));
    }),
    { numRuns: 3000 },
  );
});

/** 16 bytes as 8 groups, biased to zero groups so that runs of zeros (and ties between runs) are common. */
const addr16 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.constantFrom(1, 0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((groups) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff])));

test('formatIp on known inputs', () => {
  const f = (text: string) => formatIp(Uint8Array.from(v6(text) ?? []), 0, 16);
  assert.equal(f('::'), '::');
  assert.equal(f('::1'), '::1');
  assert.equal(f('1::'), '1::');
  assert.equal(f('2001:0db8:0000:0000:0000:0000:0002:0001'), '2001:db8::2:1');
  // A single zero group is not compressed.
  assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  // The longest run wins; on a tie, the first.
  assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
  assert.equal(f('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(f('ABCD:EF01::'), 'abcd:ef01::');
  assert.equal(formatIp(Uint8Array.from([9, 1, 2, 3, 4]), 1, 4), '1.2.3.4');
  assert.equal(formatIp(Uint8Array.from([0, 0, 0, 0]), 0, 4), '0.0.0.0');
});

test('property: formatIp gives the RFC 5952 canonical form, which parseIPv6 reads back', () => {
  fc.assert(
    fc.property(addr16, fc.nat(4), (bytes, off) => {
      const buf = new Uint8Array(off + 16);
      buf.set(bytes, off);
      const text = formatIp(buf, off, 16);
      assert.equal(text, canonical(text));
      assert.deepEqual(v6(text), [...bytes]);
      // Same answer as Node's canonical form of the fully expanded text.
      const full = [...Array(8).keys()].map((k) =>
        ((bytes[2 * k] << 8) | bytes[2 * k + 1]).toString(16).padStart(4, '0'),
      );
      assert.equal(text, canonical(full.join(':')));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      assert.deepEqual(v6(formatIp(bytes, 0, 16)), [...bytes]);
    }),
    { numRuns: 300 },
  );
});

test('property: formatIp of 4 bytes is dotted decimal that parseIPv4 reads back', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
      const text = formatIp(bytes, 0, 4);
      assert.equal(text, [...bytes].join('.'));
      assert.ok(isIPv4(text));
      assert.deepEqual(v4(text), [...bytes]);
    }),
    { numRuns: 200 },
  );
});

test('isV4Mapped', () => {
  const bytes = (text: string) => Uint8Array.from(v6(text) ?? []);
  assert.ok(isV4Mapped(bytes('::ffff:1.2.3.4'), 0));
  assert.ok(isV4Mapped(bytes('::ffff:0:0'), 0));
  assert.ok(!isV4Mapped(bytes('::1.2.3.4'), 0));
  assert.ok(!isV4Mapped(bytes('::fffe:1.2.3.4'), 0));
  assert.ok(!isV4Mapped(bytes('1::ffff:1.2.3.4'), 0));
  assert.ok(!isV4Mapped(bytes('64:ff9b::1.2.3.4'), 0));
  const shifted = new Uint8Array(20);
  shifted.set(bytes('::ffff:9.9.9.9'), 3);
  assert.ok(isV4Mapped(shifted, 3));
});

test('writeEndpoint: IPv4, IPv4-mapped IPv6 and IPv6 compact forms, port big-endian', () => {
  const out = new Uint8Array(18);
  assert.equal(writeEndpoint('1.2.3.4', 0x1ae1, out), IPV4);
  assert.deepEqual([...out.subarray(0, 6)], [1, 2, 3, 4, 0x1a, 0xe1]);
  for (const mapped of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:1.2.3.4']) {
    out.fill(0xee);
    assert.equal(writeEndpoint(mapped, 6881, out), IPV4, mapped);
    assert.deepEqual([...out.subarray(0, 6)], [1, 2, 3, 4, 6881 >> 8, 6881 & 0xff], mapped);
  }
  out.fill(0xee);
  assert.equal(writeEndpoint('2001:db8::1', 443, out), IPV6);
  assert.deepEqual([...out], [...expand('2001:db8::1'), 1, 0xbb]);
  assert.equal(writeEndpoint('::1.2.3.4', 1, out), IPV6);
  assert.equal(writeEndpoint('fe80::1%eth0', 65535, out), IPV6);
  assert.deepEqual([...out.subarray(16)], [0xff, 0xff]);
  for (const bad of ['', 'localhost', '1.2.3', '::g', '01.2.3.4', '1.2.3.4:80'])
    assert.equal(writeEndpoint(bad, 1, out), 0, bad);
});

test('property: writeEndpoint writes the address bytes and the port big-endian', () => {
  fc.assert(
    fc.property(
      addr16,
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 65535 }),
      (a6, a4, port) => {
        const out = new Uint8Array(18);
        const portBytes = [port >> 8, port & 0xff];
        assert.equal(writeEndpoint([...a4].join('.'), port, out), IPV4);
        assert.deepEqual([...out.subarray(0, 6)], [...a4, ...portBytes]);
        const mapped = `::ffff:${[...a4].join('.')}`;
        assert.equal(writeEndpoint(mapped, port, out), IPV4);
        assert.deepEqual([...out.subarray(0, 6)], [...a4, ...portBytes]);
        const text = formatIp(a6, 0, 16);
        const family = writeEndpoint(text, port, out);
        if (isV4Mapped(a6, 0)) {
          assert.equal(family, IPV4);
          assert.deepEqual([...out.subarray(0, 6)], [...a6.subarray(12), ...portBytes]);
        } else {
          assert.equal(family, IPV6);
          assert.deepEqual([...out], [...a6, ...portBytes]);
        }
      },
    ),
    { numRuns: 500 },
  );
});
