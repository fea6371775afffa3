// Fuzz target: parseHashList, the reader of access lists (--whitelist, --blacklist, access.* files), on real lists that
// are mutated: hashes a digit short or long, a non-hex byte inside, CR/LF/NUL injected, lines joined or duplicated,
// the last line cut. The hashes it finds must be exactly those a plain reading of the format gives (a line that starts
// with 40 hex digits not followed by another), and every problem must name, in order, a line that is none of a hash,
// a blank line or a comment — at most 100 of them listed and one more counting the rest.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseHashList } from '../../src/access/hash-list.ts';
import { bytes, latin1, mutated } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

const line = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(bytes(20), fc.boolean())
      .map(([h, upper]) => (upper ? h.toString('hex').toUpperCase() : h.toString('hex'))),
  },
  { weight: 1, arbitrary: bytes(20).map((h) => `${h.toString('hex')} trailing text`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '   ',
      '# a comment',
      '\t# indented comment',
      ' 0123456789abcdef0123456789abcdef01234567',
    ),
  },
);

const list = fc
  .tuple(fc.array(line, { maxLength: 20 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([lines, eol, lastEol]) => latin1(lines.join(eol) + (lastEol && lines.length > 0 ? eol : '')));

const LIST_TOKENS = ['0', 'f', 'F', 'g', '#', ' ', '\v', '\f', 'x'.repeat(120)];

/** The format read plainly: a hash line starts with exactly 40 hex digits; blank and `#` lines say nothing. */
function reference(text: string) {
  const hashes = new Set<string>();
  const quiet = new Set<number>();
  text.split('\n').forEach((raw, k) => {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const m = /^([0-9a-fA-F]{40})(?![0-9a-fA-F])/.exec(l);
    if (m !== null) hashes.add(m[1].toLowerCase());
    if (m !== null || /^[ \t\v\f]*(#.*)?$/s.test(l)) quiet.add(k + 1);
  });
  return { hashes, quiet };
}

test('parseHashList finds exactly the hash lines; each problem names, in order, a line that says something else', () => {
  fc.assert(
    fc.property(mutated(list, LIST_TOKENS), (input) => {
      const { hashes, problems } = parseHashList(input);
      const want = reference(input.toString('latin1'));
      assert.deepEqual(new Set([...hashes.values()].map((h) => h.toString('hex'))), want.hashes);
      assert.equal(hashes.size, want.hashes.size);
      assert.ok(problems.length <= 101);
      problems.forEach((p, k) => {
        assert.ok(k === 0 || p.line > problems[k - 1].line, 'problems out of order');
        assert.ok(!want.quiet.has(p.line), `a problem on line ${p.line}, a hash, blank or comment line`);
        assert.ok(p.reason.length > 0 && !/[\r\n\0]/.test(p.reason), JSON.stringify(p.reason));
      });
    }),
    fuzzParameters(800, 8),
  );
});
