// copyPeers writes the chosen compact endpoints word by word, unrolled per size: whatever the slots and the offset
// (odd ones included, as in a bencoded string), the bytes must be exactly the stored endpoints, in the chosen order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { copyPeers } from '../../src/protocol/http-replies.ts';

for (const size of [6, 18]) {
  test(`property: copyPeers writes the chosen ${size}-byte endpoints as stored, at any offset`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: size, maxLength: size * 40 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.nat(31),
        (stored, picks, at) => {
          const peers = Math.floor(stored.length / size);
          const endpoints = stored.slice(0, peers * size);
          const slots = Int32Array.from(picks, (p) => p % peers);
          const choice = { endpoints, view: new DataView(endpoints.buffer), slots, count: slots.length };
          const out = new Uint8Array(at + slots.length * size + 8).fill(0xee);
          const end = copyPeers(choice, size, new DataView(out.buffer), at);
          assert.equal(end, at + slots.length * size);
          const expected = Buffer.concat([...slots].map((s) => endpoints.subarray(s * size, (s + 1) * size)));
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
