// The readable log format (--log-format pretty): pino's JSON line → one line a person can read.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prettyLine } from '../../src/log.ts';

test('time, level and message first, then the fields; strings with spaces quoted; an error its stack after', () => {
  const time = Date.UTC(2026, 10, 22, 10, 0, 0);
  const line = JSON.stringify({
    level: 50,
    time,
    pid: 1,
    name: 'swarmd',
    msg: 'new TLS certificate refused; the one in force stays',
    why: 'SIGHUP',
    reason: 'the key does not match',
    worker: 1,
    err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)' },
  });
  assert.equal(
    prettyLine(line),
    '2026-11-22T10:00:00.000Z ERROR new TLS certificate refused; the one in force stays  why=SIGHUP  ' +
      'reason="the key does not match"  worker=1  err="boom"\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)\n',
  );
});

test('property: any event is exactly one line; text that is not a JSON object passes through', () => {
  const event = fc.dictionary(
    fc.string().filter((k) => k !== 'err' && k !== '__proto__'),
    fc.jsonValue(),
  );
  fc.assert(
    fc.property(event, fc.string(), (fields, msg) => {
      const out = prettyLine(JSON.stringify({ ...fields, level: 30, time: 0, msg }));
      assert.equal(out.indexOf('\n'), out.length - 1, out);
    }),
  );
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      const out = prettyLine(text);
      if (!text.trimStart().startsWith('{')) assert.equal(out, text);
    }),
  );
});
