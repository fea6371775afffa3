// Fuzz target: reading saved state back — swarmd's state file and opentracker's statedump — from damaged bytes. State
// files are real ones (encoded from a random swarm) that are mutated and then, mostly, resealed with a correct CRC so
// that the structural checks behind it are reached; statedumps are real lines mutated, plain or gzipped, the gzip
// sometimes damaged. A state file is refused with a StateFileError or restores a consistent swarm; on disk, a refused
// one is moved aside and the tracker starts empty. A statedump loads exactly the lines parseStatedump accepts, and
// one that does not inflate leaves the store as it was. Nothing throws past these functions.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import pino from 'pino';
import { decodeState, encodeState, readStateFile, restoreState, StateFileError } from '../../src/persist/state-file.ts';
import { loadStatedump, parseStatedump } from '../../src/persist/statedump.ts';
import { ENDPOINT_SIZE, FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { applyEdits, bytes, edits, latin1 } from './mutate.ts';
import { fuzzParameters } from './runs.ts';
import { REFUSED_HASH_BYTE, swarmFingerprint } from './tracker.ts';

const TTL = 3600;
const NOW = 1000;
const silent = pino({ level: 'silent' });
const allows = (hash: Uint8Array, off: number) => hash[off] !== REFUSED_HASH_BYTE;

const dir = mkdtempSync(join(tmpdir(), 'swarmd-fuzz-persist-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hash = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map((k) => Buffer.alloc(20, 0x30 + k)),
  bytes(19).map((b) => Buffer.concat([Buffer.of(REFUSED_HASH_BYTE), b])),
);

/** A small swarm: announces of both families, seeders, partial seeds and completions, at various ages. */
const swarm = fc
  .array(
    fc.record({
      hash,
      family: fc.constantFrom(FAMILY_V4, FAMILY_V6),
      endpoint: bytes(18),
      seeder: fc.boolean(),
      partial: fc.boolean(),
      completed: fc.boolean(),
      ago: fc.nat({ max: 600 }),
    }),
    { maxLength: 12 },
  )
  .map((announces) => {
    const store = new SwarmStore({ peerTtl: TTL }, 4);
    for (const a of announces) {
      const endpoint = a.endpoint.subarray(0, ENDPOINT_SIZE[a.family]);
      store.announce(a.hash, a.family, endpoint, a.seeder, a.partial, a.completed, NOW - a.ago);
    }
    return store;
  });

const STATE_TOKENS = ['\xff\xff\xff\xff', '\x00\x00\x00\x01', '\x00\x00\x00\x00', '\x03', '\x08', '\x89SWD\r\n\x1a\n'];

/** Rewrites the trailer's CRC, so that a mutation gets past it to the checks behind. */
function reseal(file: Buffer): Buffer {
  if (file.length >= 4) file.writeUInt32BE(crc32(file.subarray(0, file.length - 4)), file.length - 4);
  return file;
}

/** A store's internal counts must add up: no negative seeders, no more partial seeds than peers. */
function checkStore(store: SwarmStore): void {
  let peers = 0;
  for (let tid = 0; tid < store.idLimit; tid++) {
    if (!store.isAlive(tid)) continue;
    for (const pool of store.pools) {
      const n = pool.countOf(tid);
      assert.ok(
        pool.downloadersOf(tid) >= 0 &&
          pool.partialsOf(tid) >= 0 &&
          pool.downloadersOf(tid) + pool.partialsOf(tid) <= n,
      );
      peers += n;
    }
    assert.ok(store.complete(tid) >= 0);
  }
  assert.equal(peers, store.peers);
}

test('decodeState on damaged state files: a StateFileError, or a file that restores a consistent swarm', async () => {
  let restored = 0;
  await fc.assert(
    fc.asyncProperty(swarm, edits(STATE_TOKENS), fc.nat({ max: 3 }), async (store, e, sealing) => {
      const file = applyEdits(await encodeState(store, { now: NOW }), e);
      if (sealing > 0) reseal(file);
      const d = decodeState(file, 'state');
      if (d instanceof StateFileError) {
        assert.ok(d.message.startsWith('state: ') && d.reason.length > 0);
        return;
      }
      restored++;
      const fresh = new SwarmStore({ peerTtl: TTL }, 2);
      const result = restoreState(d, fresh, { now: 5 }, allows, TTL);
      assert.equal(result.torrents + result.refused, d.torrents);
      assert.ok(result.peers + result.expired <= d.peers);
      assert.ok(fresh.torrents <= result.torrents && fresh.peers <= result.peers);
      checkStore(fresh);
    }),
    fuzzParameters(500, 4),
  );
  assert.ok(restored > 50, `only ${restored} damaged files decoded`);
});

test('a state file with every record twice restores the same swarm as the file itself', async () => {
  await fc.assert(
    fc.asyncProperty(swarm, async (store) => {
      const file = await encodeState(store, { now: NOW });
      const records = file.subarray(16, file.length - 12);
      const trailer = Buffer.alloc(12);
      const original = decodeState(file, 'state');
      assert.ok(!(original instanceof StateFileError));
      trailer.writeUInt32BE(original.torrents * 2, 0);
      trailer.writeUInt32BE(original.peers * 2, 4);
      const doubled = decodeState(reseal(Buffer.concat([file.subarray(0, 16), records, records, trailer])), 'state');
      assert.ok(!(doubled instanceof StateFileError), String(doubled));
      const once = new SwarmStore({ peerTtl: TTL });
      const twice = new SwarmStore({ peerTtl: TTL });
      restoreState(original, once, { now: 5 }, allows, TTL);
      restoreState(doubled, twice, { now: 5 }, allows, TTL);
      assert.deepEqual(swarmFingerprint(twice), swarmFingerprint(once));
    }),
    fuzzParameters(200, 5),
  );
});

test('readStateFile on a damaged file: null (start empty), the file moved aside, never an exception', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(swarm, edits(STATE_TOKENS), async (store, e) => {
      const good = await encodeState(store, { now: NOW });
      const damaged = applyEdits(good, e);
      const path = join(dir, `state-${n++}`);
      writeFileSync(path, damaged);
      const read = await readStateFile(path, silent);
      const usable = !(decodeState(damaged, path) instanceof StateFileError);
      assert.equal(read !== null, usable);
      const left = readdirSync(dir).filter((f) => f.startsWith(`state-${n - 1}`));
      assert.equal(left.length, 1);
      assert.equal(left[0] === `state-${n - 1}`, usable, `${left[0]}`);
      rmSync(join(dir, left[0]));
    }),
    fuzzParameters(60, 10),
  );
});

const hex = fc
  .tuple(bytes(20), fc.boolean())
  .map(([h, upper]) => (upper ? h.toString('hex').toUpperCase() : h.toString('hex')));
const statedumpLine = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(hex, fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }))
      .map(([h, b, d]) => `${h}:${b}:${d}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '   ', `${REFUSED_HASH_BYTE.toString(16)}${'0'.repeat(38)}:1:2`, '# not a comment'),
  },
);
const STATEDUMP_TOKENS = [':', '::', '0', '99999999999', '4294967296', 'g', 'x'];
const statedump = fc
  .tuple(fc.array(statedumpLine, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), edits(STATEDUMP_TOKENS))
  .map(([lines, eol, e]) => applyEdits(latin1(lines.join(eol)), e));

test('loadStatedump loads what parseStatedump accepts; a gzip that does not inflate leaves the store alone', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(statedump, fc.constantFrom('plain', 'gzip', 'damaged gzip'), edits([]), async (text, form, e) => {
      const bytesOnDisk = form === 'plain' ? text : form === 'gzip' ? gzipSync(text) : applyEdits(gzipSync(text), e);
      const path = join(dir, `dump-${n++}`);
      writeFileSync(path, bytesOnDisk);
      const store = new SwarmStore({ peerTtl: TTL });
      // A torrent the tracker has already, which a line of the dump may update.
      store.announce(Buffer.alloc(20, 0x30), FAMILY_V4, Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1), false, false, false, 1);
      const before = swarmFingerprint(store);
      const result = await loadStatedump(path, store, { now: 2 }, allows, silent);
      rmSync(path);
      checkStore(store);
      const inflated = bytesOnDisk[0] === 0x1f && bytesOnDisk[1] === 0x8b ? tryGunzip(bytesOnDisk) : bytesOnDisk;
      if (inflated === null) {
        assert.deepEqual(result, { loaded: 0, refused: 0, problems: 1 });
        assert.deepEqual(swarmFingerprint(store), before);
        return;
      }
      const parsed = parseStatedump(inflated, path);
      const refused = parsed.entries.filter((x) => !allows(x.hash, 0)).length;
      assert.equal(result.loaded, parsed.entries.length - refused);
      assert.equal(result.refused, refused);
      // The last line of a hash wins.
      const downloaded = new Map(
        parsed.entries.filter((x) => allows(x.hash, 0)).map((x) => [x.hash.toString('hex'), x.downloaded]),
      );
      for (const [key, count] of downloaded) {
        const tid = store.find(Buffer.from(key, 'hex'), 0);
        assert.ok(tid >= 0, `the torrent of a loaded line, ${key}, is missing`);
        assert.equal(store.downloaded(tid), count);
      }
    }),
    fuzzParameters(300, 5),
  );
});

function tryGunzip(gz: Buffer): Buffer | null {
  try {
    return gunzipSync(gz);
  } catch {
    return null;
  }
}
