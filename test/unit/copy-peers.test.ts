// copyPeers writes the chosen compact endpoints run by run: whatever the runs and the offset (odd ones included, as in
// a bencoded string), the bytes must be exactly the stored endpoints, in the chosen order, and nothing else.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { copyPeers } from '../../src/protocol/http-replies.ts';
import { MAX_RUNS } from '../../src/swarm/peer-pool.ts';

for (const size of [6, 18]) {
  test(`property: copyPeers writes the chosen ${size}-byte endpoints as stored, at any offset`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: size, maxLength: size * 40 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: MAX_RUNS }),
        fc.nat(31),
        (stored, picks, at) => {
          const peers = Math.floor(stored.length / size);
          const endpoints = Buffer.from(stored.slice(0, peers * size));
          const runs = new Int32Array(2 * MAX_RUNS);
          let count = 0;
          picks.forEach(([first, length], r) => {
            runs[2 * r] = first % peers;
            runs[2 * r + 1] = 1 + (length % (peers - runs[2 * r]));
            count += runs[2 * r + 1];
          });
          const choice = { endpoints, runs, runCount: picks.length, count };
          const out = new Uint8Array(at + count * size + 8).fill(0xee);
          const end = copyPeers(choice, size, out, at);
          assert.equal(end, at + count * size);
          const expected = Buffer.concat(
            picks.map((_, r) => endpoints.subarray(runs[2 * r] * size, (runs[2 * r] + runs[2 * r + 1]) * size)),
          );
          assert.deepEqual(Buffer.from(out.subarray(at, end)), expected);
          assert.ok(
            out.subarray(0, at).every((b) => b === 0xee),
            'nothing written before the offset',
          );
          assert.ok(
            out.subarray(end).every((b) => b === 0xee),
            'nothing written past the end',
          );
        },
      ),
    );
  });
}
