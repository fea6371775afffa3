import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseStatedump } from '../../src/persist/statedump.ts';

const FILE = '/var/lib/swarmd/dump';
const HEX_A = '0123456789ABCDEF0123456789ABCDEF01234567';
const HEX_B = 'fedcba9876543210fedcba9876543210fedcba98';

function parse(text: string) {
  return parseStatedump(Buffer.from(text, 'latin1'), FILE);
}

test('reads the lines opentracker writes: hash, base minutes, downloaded', () => {
  const { entries, problems } = parse(`${HEX_A}:29921464:17\n${HEX_B}:0:0\n`);
  assert.deepEqual(problems, []);
  assert.deepEqual(entries, [
    { hash: Buffer.from(HEX_A, 'hex'), baseMinutes: 29921464, downloaded: 17 },
    { hash: Buffer.from(HEX_B, 'hex'), baseMinutes: 0, downloaded: 0 },
  ]);
});

test('accepts CRLF, blank lines, either case of hex, leading zeros, the largest values and no final newline', () => {
  const text = `\r\n${HEX_A}:29921464:17\r\n\n   \t\n${HEX_B.toUpperCase()}:0029921464:4294967295`;
  const { entries, problems } = parse(text);
  assert.deepEqual(problems, []);
  assert.equal(entries.length, 2);
  assert.equal(entries[0].downloaded, 17);
  assert.deepEqual(entries[1], { hash: Buffer.from(HEX_B, 'hex'), baseMinutes: 29921464, downloaded: 4294967295 });
});

test('each kind of bad line is a problem with its line number and reason, and the good lines still load', () => {
  const lines = [
    `${HEX_A}:1:2`, // 1: good
    `${HEX_A.slice(0, 39)}:1:2`, // 2
    `${HEX_A.slice(0, 10)}x${HEX_A.slice(11)}:1:2`, // 3
    `${HEX_A}0:1:2`, // 4
    `${HEX_A}`, // 5
    `${HEX_A}:123`, // 6
    `${HEX_A}:123:`, // 7
    `${HEX_A}::5`, // 8
    `${HEX_A}:12a:5`, // 9
    `${HEX_A}:1:-5`, // 10
    `${HEX_A}:4294967296:5`, // 11
    `${HEX_A}:1:99999999999999999999999`, // 12
    `${HEX_A}:1:2 `, // 13
    `${HEX_A}:1:2:3`, // 14
    `${HEX_A};1:2`, // 15
    ` ${HEX_A}:1:2`, // 16
    '# a comment', // 17
    `${HEX_B}:3:4`, // 18: good
    `${HEX_A}:1:2\x00\xff`, // 19
    `${HEX_A}:1`, // 20: last, no newline
  ];
  const { entries, problems } = parse(lines.join('\n'));
  assert.deepEqual(
    entries.map((e) => e.hash.toString('hex')),
    [HEX_A.toLowerCase(), HEX_B],
  );
  const f = (line: number, reason: string) => ({ file: FILE, line, reason });
  assert.deepEqual(problems, [
    f(2, 'expected an info hash of 40 hex digits, found 39'),
    f(3, "non-hex character 'x' at column 11 of the info hash"),
    f(4, 'expected an info hash of 40 hex digits, found 41'),
    f(5, 'missing base (minutes since the epoch)'),
    f(6, 'missing downloaded count'),
    f(7, 'missing downloaded count'),
    f(8, "base (minutes since the epoch) is not a decimal number: ':' at column 42"),
    f(9, "expected ':' before the downloaded count at column 44, found 'a'"),
    f(10, "downloaded count is not a decimal number: '-' at column 44"),
    f(11, "base (minutes since the epoch) '4294967296' is out of range (at most 4294967295)"),
    f(12, "downloaded count '9999999999999999…' is out of range (at most 4294967295)"),
    f(13, "unexpected ' ' after the downloaded count at column 45"),
    f(14, "unexpected ':3' after the downloaded count at column 45"),
    f(15, "expected ':' before the base (minutes since the epoch) at column 41, found ';'"),
    f(16, "non-hex character ' ' at column 1 of the info hash"),
    f(17, "non-hex character '#' at column 1 of the info hash"),
    f(19, "unexpected '\\x00\\xff' after the downloaded count at column 45"),
    f(20, 'missing downloaded count (the last line has no newline: was the file cut short?)'),
  ]);
});

test('problems beyond 100 are counted in one more entry, not listed', () => {
  const text = `${'junk\n'.repeat(150)}${HEX_A}:1:2\n`;
  const { entries, problems } = parse(text);
  assert.equal(entries.length, 1);
  assert.equal(problems.length, 101);
  assert.deepEqual(problems[100], { file: FILE, line: 101, reason: '50 more problems from here on, not listed' });
});

const entry = fc.record({
  hash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  baseMinutes: fc.nat({ max: 0xffffffff }),
  downloaded: fc.nat({ max: 0xffffffff }),
});

test('any list of entries survives the text format, whatever the case, line ends and blank lines', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ e: entry, upper: fc.boolean(), crlf: fc.boolean(), blank: fc.boolean() })),
      (lines) => {
        let text = '';
        for (const { e, upper, crlf, blank } of lines) {
          const hex = Buffer.from(e.hash).toString('hex');
          const eol = crlf ? '\r\n' : '\n';
          text += `${upper ? hex.toUpperCase() : hex}:${e.baseMinutes}:${e.downloaded}${eol}${blank ? eol : ''}`;
        }
        const { entries, problems } = parse(text);
        assert.deepEqual(problems, []);
        assert.deepEqual(
          entries,
          lines.map(({ e }) => ({ hash: Buffer.from(e.hash), baseMinutes: e.baseMinutes, downloaded: e.downloaded })),
        );
      },
    ),
  );
});

test('arbitrary bytes never throw, and every line is either an entry, blank or a problem', () => {
  const lineish = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.stringMatching(/^[0-9a-fA-F:\r\n x-]{0,60}$/).map((s) => Buffer.from(s, 'latin1')),
    entry.map((e) => Buffer.from(`${Buffer.from(e.hash).toString('hex')}:${e.baseMinutes}:${e.downloaded}\n`)),
  );
  fc.assert(
    fc.property(fc.array(lineish, { maxLength: 30 }), (parts) => {
      const text = Buffer.concat(parts);
      const { entries, problems } = parseStatedump(text, FILE);
      const lines = text.toString('latin1').split('\n');
      if (lines.at(-1) === '') lines.pop();
      const nonBlank = lines.filter((l) => !/^[ \t\v\f]*\r?$/.test(l)).length;
      if (problems.length <= 100) assert.equal(entries.length + problems.length, nonBlank);
      else assert.ok(entries.length + 100 < nonBlank);
      for (const p of problems) assert.ok(p.line >= 1 && p.line <= lines.length && p.reason.length > 0);
    }),
  );
});
