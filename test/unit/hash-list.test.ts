import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseHashList } from '../../src/access/hash-list.ts';
import { HashSet } from '../../src/access/hash-set.ts';

const HEX_A = 'aa'.repeat(20);
const HEX_B = '0123456789abcdef0123456789abcdef01234567';

function parse(text: string): { hex: string[]; problems: { line: number; reason: string }[] } {
  const { hashes, problems } = parseHashList(Buffer.from(text, 'latin1'));
  return { hex: [...hashes.values()].map((h) => h.toString('hex')), problems };
}

describe('parseHashList', () => {
  test('hashes, comments, blank lines, CRLF, trailing text and upper case', () => {
    const text = [
      '# a comment',
      '   # an indented comment',
      '',
      '  \t',
      `${HEX_A}`,
      `${HEX_B.toUpperCase()} trailing text is fine`,
      `${HEX_B}#also fine`,
      '',
    ].join('\r\n');
    assert.deepEqual(parse(text), { hex: [HEX_B, HEX_A], problems: [] });
  });

  test('a hash on the last line without a newline counts', () => {
    assert.deepEqual(parse(`# list\n${HEX_A}`), { hex: [HEX_A], problems: [] });
  });

  test('an empty file is an empty list', () => {
    assert.deepEqual(parse(''), { hex: [], problems: [] });
  });

  test('a 38-digit line is a problem, with its line number', () => {
    assert.deepEqual(parse(`${HEX_A}\n# x\n${HEX_B.slice(0, 38)}\n`), {
      hex: [HEX_A],
      problems: [{ line: 3, reason: 'expected 40 hex digits, found 38' }],
    });
  });

  test('a short hash followed by text, and a long one', () => {
    const { problems } = parse(`${HEX_B.slice(0, 25)} comment\r\n${HEX_B}0\n`);
    assert.deepEqual(problems, [
      { line: 1, reason: 'expected 40 hex digits, found 25' },
      { line: 2, reason: 'expected 40 hex digits, found more than 40' },
    ]);
  });

  test('a non-hex character', () => {
    const { hex, problems } = parse(`${HEX_A}\nnot a hash\n0123456789az${HEX_B}\n`);
    assert.deepEqual(hex, [HEX_A]);
    assert.deepEqual(problems, [
      { line: 2, reason: "'not a hash' is not a hash: non-hex character 'n' at column 1" },
      { line: 3, reason: "'0123456789az0123…' is not a hash: non-hex character 'z' at column 12" },
    ]);
  });

  test('binary bytes are shown escaped', () => {
    const { problems } = parseHashList(Buffer.from([0x61, 0x00, 0xff, 0x0a]));
    assert.deepEqual(problems, [
      { line: 1, reason: "'a\\x00\\xff' is not a hash: non-hex character '\\x00' at column 2" },
    ]);
  });

  test('a hash must start in column 1', () => {
    assert.deepEqual(parse(`  ${HEX_A}\n`).problems, [
      { line: 1, reason: "'  aaaaaaaaaaaaaa…' is not a hash: a hash starts in column 1" },
    ]);
  });

  test('a half-written last line is a problem that says so', () => {
    const { hex, problems } = parse(`${HEX_A}\n${HEX_B.slice(0, 17)}`);
    assert.deepEqual(hex, [HEX_A]);
    assert.deepEqual(problems, [
      {
        line: 2,
        reason: 'expected 40 hex digits, found 17 (the last line has no newline: is the file still being written?)',
      },
    ]);
  });

  test('duplicates count once', () => {
    assert.deepEqual(parse(`${HEX_A}\n${HEX_A.toUpperCase()}\n`).hex, [HEX_A]);
  });

  test('problems beyond 100 are counted, not listed', () => {
    const { problems } = parse('x\n'.repeat(250));
    assert.equal(problems.length, 101);
    assert.equal(problems[99].line, 100);
    assert.deepEqual(problems[100], { line: 101, reason: '150 more problems from here on, not listed' });
  });

  const hashHex = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex'));
  const comment = fc.oneof(
    fc.constant(''),
    fc.constantFrom(' ', '\t', '  '),
    fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => `#${s.replace(/[\r\n]/g, '')}`),
    fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => ` \t# ${s.replace(/[\r\n]/g, '')}`),
  );
  // Trailing text starts with a non-hex character (else the digits would run on), and has no line break.
  const trailing = fc.oneof(
    fc.constant(''),
    fc
      .tuple(fc.constantFrom(' ', '\t', '#', 'x', ';', 'Z'), fc.string({ unit: 'grapheme-ascii', maxLength: 20 }))
      .map(([first, rest]) => first + rest.replace(/[\r\n]/g, '')),
  );
  const hashLine = fc
    .tuple(hashHex, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), trailing)
    .map(([hex, upper, tail]) => ({
      hex,
      line: [...hex].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + tail,
    }));

  test('property: a valid list gives exactly its hashes and no problems', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            hashLine,
            comment.map((line) => ({ hex: null, line })),
          ),
          { maxLength: 40 },
        ),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        (lines, eol, finalEol) => {
          const text = lines.map((l) => l.line).join(eol) + (finalEol ? eol : '');
          const want = new Set(lines.flatMap((l) => (l.hex === null ? [] : [l.hex])));
          const got = parse(text);
          assert.deepEqual(got.problems, []);
          assert.deepEqual(new Set(got.hex), want);
          assert.equal(got.hex.length, want.size);
        },
      ),
    );
  });

  test('property: arbitrary bytes never throw, and every hash found starts a line', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // Mostly hex digits and line breaks, so that hashes are found now and then.
      fc
        .array(fc.constantFrom(...'0123456789abcdefABCDEF\n\r #x'), { maxLength: 300 })
        .map((cs) => Buffer.from(cs.join(''), 'latin1')),
      fc.array(hashLine.map((h) => h.line)).map((ls) => Buffer.from(ls.join('\n'), 'latin1')),
    );
    fc.assert(
      fc.property(bytes, (input) => {
        const { hashes, problems } = parseHashList(input);
        const lineStarts = input
          .toString('latin1')
          .split('\n')
          .map((l) => l.slice(0, 40).toLowerCase());
        for (const h of hashes.values()) assert.ok(lineStarts.includes(h.toString('hex')));
        for (const p of problems) assert.ok(p.line >= 1 && p.reason.length > 0);
      }),
    );
  });
});

describe('HashSet', () => {
  const toHex = (b: Uint8Array, off: number): string => Buffer.from(b.subarray(off, off + 20)).toString('hex');

  test('property: has() agrees with a Set of strings, at any offset of the probe', () => {
    const hash = fc.uint8Array({ minLength: 20, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.array(hash, { maxLength: 60 }),
        fc.array(hash, { maxLength: 20 }),
        fc.nat(30),
        (members, others, pad) => {
          // Duplicates, and hashes that share a long prefix with members, make the binary search work for it.
          const withDups = [...members, ...members.slice(0, 3)];
          const near = members.map((m) => {
            const n = Uint8Array.from(m);
            n[19] ^= 1;
            return n;
          });
          const set = new HashSet(Buffer.concat(withDups));
          const expected = new Set(members.map((m) => toHex(m, 0)));
          assert.equal(set.size, expected.size);
          for (const probe of [...members, ...others, ...near]) {
            const buf = new Uint8Array(pad + 20 + 7);
            buf.set(probe, pad);
            assert.equal(set.has(buf, pad), expected.has(toHex(probe, 0)));
          }
          const sorted = [...set.values()].map((h) => h.toString('hex'));
          assert.deepEqual(sorted, [...expected].sort());
        },
      ),
    );
  });

  test('hashes with one common prefix still sort and match', () => {
    const members = Array.from({ length: 500 }, () => {
      const h = randomBytes(20);
      h[0] = 7;
      h[1] = 9;
      return h;
    });
    const set = new HashSet(Buffer.concat(members));
    assert.equal(set.size, 500);
    for (const m of members) assert.ok(set.has(m, 0));
    const values = [...set.values()];
    for (let i = 1; i < values.length; i++) assert.ok(Buffer.compare(values[i - 1], values[i]) < 0);
  });

  test('a million hashes', () => {
    const bytes = randomBytes(20 * 1_000_000);
    const set = new HashSet(Buffer.from(bytes)); // a copy: the set sorts what it is given in place
    assert.equal(set.size, 1_000_000);
    for (let i = 0; i < 1000; i++) assert.ok(set.has(bytes, i * 20 * 997));
    assert.equal(set.has(Buffer.alloc(20), 0), false);
  });

  test('EMPTY has nothing', () => {
    assert.equal(HashSet.EMPTY.size, 0);
    assert.equal(HashSet.EMPTY.has(Buffer.alloc(20), 0), false);
  });

  test('a length that is not whole hashes is a programming error', () => {
    assert.throws(() => new HashSet(Buffer.alloc(21)), RangeError);
  });
});
