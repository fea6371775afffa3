import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type AnnounceRequest,
  createAnnounceRequest,
  EVENT_COMPLETED,
  EVENT_NONE,
  EVENT_PAUSED,
  EVENT_STARTED,
  EVENT_STOPPED,
} from '../../src/protocol/announce.ts';
import { createScrapeHashes, parseAnnounceParams, parseScrapeParams } from '../../src/protocol/http-params.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** libtorrent: lowercase hex, alphanumerics and `-_.!~*()` left raw. */
function libtorrentEscape(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9\-_.!~*()]/.test(c) ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** aria2: uppercase hex, RFC 3986 unreserved bytes left raw. */
function aria2Escape(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return s;
}

/** Every byte escaped, uppercase (transmission's tr_http_escape_sha1 style for non-alphanumerics, stricter). */
function fullEscape(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

const HASH = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
// A hash with bytes libtorrent leaves raw (`!`, `*`, `~`, `(`, `)`) and bytes that must be escaped (`%`, `&`, `=`, `+`).
const TRICKY_HASH = Buffer.from('!*~()%&=+ \x00\xff-_.aZ09/', 'latin1');
const PEER_ID = latin1('-qB4630-abcdefghijkl');

function parse(
  query: string,
  req: AnnounceRequest = createAnnounceRequest(),
): { failure: string | null; req: AnnounceRequest } {
  // Parse a range inside a larger buffer, as the HTTP handler does.
  const src = latin1(`GET /announce?${query} HTTP/1.1`);
  const start = 'GET /announce?'.length;
  return { failure: parseAnnounceParams(src, start, start + query.length, req), req };
}

function okQuery(extra = '', hash: Uint8Array = HASH): string {
  return `info_hash=${fullEscape(hash)}&peer_id=${aria2Escape(PEER_ID)}&port=6881${extra}`;
}

test('libtorrent-style query (lowercase hex, !*~ raw) parses to the right 20 bytes and fields', () => {
  assert.equal(TRICKY_HASH.length, 20);
  const q =
    `info_hash=${libtorrentEscape(TRICKY_HASH)}&peer_id=${libtorrentEscape(latin1('-LT2090-(*!~)abc%&=+'))}` +
    '&port=6881&uploaded=0&downloaded=0&left=1048576&corrupt=0&key=4AB1C0DE&event=started&numwant=200' +
    '&compact=1&no_peer_id=1&supportcrypto=1&redundant=0';
  assert.ok(q.includes('!*~()'), 'the encoding really leaves !*~() raw');
  assert.ok(q.includes('%ff'), 'the encoding really uses lowercase hex');
  const { failure, req } = parse(q);
  assert.equal(failure, null);
  assert.deepEqual(req.infoHash, TRICKY_HASH);
  assert.deepEqual(req.peerId, latin1('-LT2090-(*!~)abc%&=+'));
  assert.equal(req.port, 6881);
  assert.equal(req.uploaded, 0);
  assert.equal(req.downloaded, 0);
  assert.equal(req.left, 1048576);
  assert.equal(req.event, EVENT_STARTED);
  assert.equal(req.numwant, 200);
  assert.equal(req.compact, true);
});

test('aria2-style query (uppercase hex) parses to the right 20 bytes and fields', () => {
  const q =
    `info_hash=${aria2Escape(TRICKY_HASH)}&peer_id=${aria2Escape(latin1('A2-1-37-0-\x01\x02\xfe\xffabcdef'))}` +
    '&uploaded=12345&downloaded=678&left=0&compact=1&key=ABCDEF&numwant=50&no_peer_id=1&port=6881' +
    '&event=completed&supportcrypto=1';
  assert.ok(q.includes('%FF'));
  const { failure, req } = parse(q);
  assert.equal(failure, null);
  assert.deepEqual(req.infoHash, TRICKY_HASH);
  assert.deepEqual(req.peerId, latin1('A2-1-37-0-\x01\x02\xfe\xffabcdef'));
  assert.equal(req.uploaded, 12345);
  assert.equal(req.downloaded, 678);
  assert.equal(req.left, 0);
  assert.equal(req.numwant, 50);
  assert.equal(req.event, EVENT_COMPLETED);
  assert.equal(req.port, 6881);
});

test('transmission-style query parses to the right 20 bytes and fields', () => {
  const q =
    `info_hash=${fullEscape(HASH)}&peer_id=-TR4060-${'x1y2z3w4v5u6'}&port=51413&uploaded=0&downloaded=0` +
    '&left=734003200&numwant=80&key=5b1b0a2f&compact=1&supportcrypto=1&event=stopped&ipv6=2001%3Adb8%3A%3A1';
  const { failure, req } = parse(q);
  assert.equal(failure, null);
  assert.deepEqual(req.infoHash, HASH);
  assert.deepEqual(req.peerId, latin1('-TR4060-x1y2z3w4v5u6'));
  assert.equal(req.port, 51413);
  assert.equal(req.left, 734003200);
  assert.equal(req.numwant, 80);
  assert.equal(req.event, EVENT_STOPPED);
});

test('defaults when optional fields are absent', () => {
  const { failure, req } = parse(okQuery());
  assert.equal(failure, null);
  assert.equal(req.left, -1);
  assert.equal(req.uploaded, 0);
  assert.equal(req.downloaded, 0);
  assert.equal(req.event, EVENT_NONE);
  assert.equal(req.numwant, -1);
  assert.equal(req.compact, true);
});

test('every field is read', () => {
  const events: Array<[string, number]> = [
    ['started', EVENT_STARTED],
    ['completed', EVENT_COMPLETED],
    ['stopped', EVENT_STOPPED],
    ['paused', EVENT_PAUSED],
    ['empty', EVENT_NONE],
    ['', EVENT_NONE],
  ];
  for (const [name, value] of events) {
    const { failure, req } = parse(okQuery(`&event=${name}`));
    assert.equal(failure, null, name);
    assert.equal(req.event, value, name);
  }
  assert.equal(parse(okQuery('&numwant=-1')).req.numwant, -1);
  assert.equal(parse(okQuery('&numwant=-50')).req.numwant, -1);
  assert.equal(parse(okQuery('&numwant=0')).req.numwant, 0);
  assert.equal(parse(okQuery('&numwant=1000')).req.numwant, 1000);
  assert.equal(parse(okQuery('&compact=0')).req.compact, false);
  assert.equal(parse(okQuery('&compact=1')).req.compact, true);
  assert.equal(parse(okQuery('&uploaded=18446744073709551615')).req.uploaded, 2 ** 64);
  assert.equal(parse(okQuery('&downloaded=42')).req.downloaded, 42);
  assert.equal(parse(okQuery('&left=0')).req.left, 0);
  assert.equal(parse(`port=1&peer_id=${fullEscape(PEER_ID)}&info_hash=${fullEscape(HASH)}`).req.port, 1);
  assert.equal(parse(okQuery().replace('port=6881', 'port=65535')).req.port, 65535);
});

test('a reused request is reset between parses', () => {
  const req = createAnnounceRequest();
  parse(okQuery('&numwant=5&compact=0&no_peer_id=1&event=stopped&left=3&uploaded=4&downloaded=5'), req);
  const { failure } = parse(okQuery(), req);
  assert.equal(failure, null);
  assert.equal(req.numwant, -1);
  assert.equal(req.compact, true);
  assert.equal(req.event, EVENT_NONE);
  assert.equal(req.left, -1);
  assert.equal(req.uploaded, 0);
  assert.equal(req.downloaded, 0);
});

test('bad requests give a failure string naming the problem', () => {
  const peer = `peer_id=${fullEscape(PEER_ID)}`;
  const hash = `info_hash=${fullEscape(HASH)}`;
  const cases: Array<[string, RegExp]> = [
    [`${peer}&port=6881`, /missing info_hash/],
    [`${hash}&port=6881`, /missing peer_id/],
    [`${hash}&${peer}`, /missing port/],
    ['', /missing info_hash/],
    [`info_hash=${fullEscape(HASH.subarray(0, 19))}&${peer}&port=1`, /info_hash.*20 bytes/],
    [`info_hash=${fullEscape(Buffer.concat([HASH, Buffer.from([1])]))}&${peer}&port=1`, /info_hash.*20 bytes/],
    [`info_hash=&${peer}&port=1`, /info_hash.*20 bytes/],
    [`info_hash=${fullEscape(HASH).slice(0, -1)}&${peer}&port=1`, /info_hash/],
    [`${hash}&${hash}&${peer}&port=1`, /info_hash given more than once/],
    [`${hash}&peer_id=${fullEscape(PEER_ID.subarray(0, 19))}&port=1`, /peer_id.*20 bytes/],
    [`${hash}&peer_id=${fullEscape(Buffer.concat([PEER_ID, PEER_ID]))}&port=1`, /peer_id.*20 bytes/],
    [`${hash}&${peer}&port=0`, /invalid port/],
    [`${hash}&${peer}&port=65536`, /invalid port/],
    [`${hash}&${peer}&port=-1`, /invalid port/],
    [`${hash}&${peer}&port=abc`, /invalid port/],
    [`${hash}&${peer}&port=`, /invalid port/],
    [`${hash}&${peer}&port=6881x`, /invalid port/],
    [`${hash}&${peer}&port=1&left=-5`, /invalid left/],
    [`${hash}&${peer}&port=1&left=abc`, /invalid left/],
    [`${hash}&${peer}&port=1&left=${'9'.repeat(22)}`, /invalid left/],
    [`${hash}&${peer}&port=1&uploaded=1.5`, /invalid uploaded/],
    [`${hash}&${peer}&port=1&uploaded=-1`, /invalid uploaded/],
    [`${hash}&${peer}&port=1&downloaded=x`, /invalid downloaded/],
    [`${hash}&${peer}&port=1&downloaded=`, /invalid downloaded/],
    [`${hash}&${peer}&port=1&numwant=lots`, /invalid numwant/],
    [`${hash}&${peer}&port=1&numwant=`, /invalid numwant/],
    [`${hash}&${peer}&port=1&numwant=${'1'.repeat(22)}`, /invalid numwant/],
    [`${hash}&${peer}&port=1&event=bogus`, /invalid event/],
    [`${hash}&${peer}&port=1&event=Started`, /invalid event/],
    [`${hash}&${peer}&port=1&event=started%20`, /invalid event/],
  ];
  for (const [query, pattern] of cases) {
    const { failure } = parse(query);
    assert.ok(failure !== null && pattern.test(failure), `${query}: got ${JSON.stringify(failure)}, want ${pattern}`);
  }
});

test('unknown parameters are ignored, keys are matched exactly', () => {
  const { failure, req } = parse(
    `${okQuery()}&trackerid=x&key=%00&corrupt=0&Info_hash=zz&info_hashX=1&port6881=1&=x&&&ip=1.2.3.4`,
  );
  assert.equal(failure, null);
  assert.deepEqual(req.infoHash, HASH);
  assert.equal(req.port, 6881);
});

const clientStyle = fc.constantFrom(libtorrentEscape, aria2Escape, fullEscape);
const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 });

test('property: client-style queries parse to the bytes and numbers that were sent', () => {
  fc.assert(
    fc.property(
      bytes20,
      bytes20,
      clientStyle,
      fc.integer({ min: 1, max: 65535 }),
      fc.maxSafeInteger().map(Math.abs),
      fc.maxSafeInteger().map(Math.abs),
      fc.maxSafeInteger().map(Math.abs),
      fc.integer({ min: -1000, max: 100000 }),
      fc.boolean(),
      fc.boolean(),
      fc.shuffledSubarray(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']),
      (hash, peerId, esc, port, up, down, left, numwant, compact, noPeerId, order) => {
        const params: Record<string, string> = {
          a: `info_hash=${esc(hash)}`,
          b: `peer_id=${esc(peerId)}`,
          c: `port=${port}`,
          d: `uploaded=${up}`,
          e: `downloaded=${down}`,
          f: `left=${left}`,
          g: `numwant=${numwant}`,
          h: `compact=${compact ? 1 : 0}`,
          i: `no_peer_id=${noPeerId ? 1 : 0}`,
        };
        const required = ['a', 'b', 'c'];
        const keys = [...new Set([...required, ...order])];
        const query = keys.map((k) => params[k]).join('&');
        const { failure, req } = parse(query);
        assert.equal(failure, null);
        assert.deepEqual(Uint8Array.from(req.infoHash), hash);
        assert.deepEqual(Uint8Array.from(req.peerId), peerId);
        assert.equal(req.port, port);
        assert.equal(req.uploaded, keys.includes('d') ? up : 0);
        assert.equal(req.downloaded, keys.includes('e') ? down : 0);
        assert.equal(req.left, keys.includes('f') ? left : -1);
        assert.equal(req.numwant, keys.includes('g') ? Math.max(numwant, -1) : -1);
        assert.equal(req.compact, keys.includes('h') ? compact : true);
      },
    ),
    { numRuns: 300 },
  );
});

const paramSoup = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        'info_hash',
        'peer_id',
        'port',
        'left',
        'uploaded',
        'downloaded',
        'event',
        'numwant',
        'compact',
        'x',
      ),
      fc.oneof(
        bytes20.map(fullEscape),
        fc.uint8Array({ maxLength: 24 }).map(libtorrentEscape),
        fc.integer({ min: -70000, max: 70000 }).map(String),
        fc.constantFrom('', 'started', 'paused', 'empty', 'bogus', '%', '%4', '%zz', '00', '-0'),
        fc.string({ unit: 'binary-ascii', maxLength: 24 }),
      ),
    ),
    { maxLength: 8 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));

test('property: arbitrary bytes never throw; the result is null or a failure string', () => {
  const req = createAnnounceRequest();
  const check = (src: Uint8Array, start: number, end: number) => {
    const failure = parseAnnounceParams(src, start, end, req);
    if (failure === null) {
      // A usable request really had the required parameters, with a port in range.
      const text = Buffer.from(src.subarray(start, end)).toString('latin1');
      for (const key of ['info_hash', 'peer_id', 'port']) assert.ok(text.includes(`${key}=`), key);
      assert.ok(req.port >= 1 && req.port <= 65535);
      assert.ok(req.numwant >= -1);
    } else {
      assert.equal(typeof failure, 'string');
      assert.ok(failure.length > 0);
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (src, a, b) => {
      const start = src.length === 0 ? 0 : a % src.length;
      const end = start + (src.length === start ? 0 : b % (src.length - start + 1));
      check(src, start, end);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(paramSoup, (query) => {
      const src = latin1(query);
      check(src, 0, src.length);
    }),
    { numRuns: 1000 },
  );
});

function scrape(query: string, max: number) {
  const out = createScrapeHashes(max);
  const src = latin1(`?${query}#`);
  const failure = parseScrapeParams(src, 1, 1 + query.length, max, out);
  return { failure, out };
}

function hashN(n: number): Buffer {
  const h = Buffer.alloc(20, n);
  h.writeUInt32BE(n, 0);
  return h;
}

test('scrape collects every info_hash, in order, up to max', () => {
  const hashes = [hashN(1), TRICKY_HASH, hashN(3)];
  const query = `info_hash=${fullEscape(hashes[0])}&x=1&info_hash=${libtorrentEscape(hashes[1])}&info_hash=${aria2Escape(hashes[2])}`;
  const { failure, out } = scrape(query, 3);
  assert.equal(failure, null);
  assert.equal(out.count, 3);
  assert.deepEqual(out.hashes, Buffer.concat(hashes));
});

test('scrape refuses max+1 hashes with a message naming the limit', () => {
  for (const max of [1, 5, 74]) {
    const query = Array.from({ length: max + 1 }, (_, i) => `info_hash=${fullEscape(hashN(i))}`).join('&');
    const { failure } = scrape(query, max);
    assert.ok(failure?.includes(String(max)) && /too many/.test(failure), String(failure));
    const exact = scrape(query.slice(0, query.lastIndexOf('&')), max);
    assert.equal(exact.failure, null);
    assert.equal(exact.out.count, max);
  }
});

test('scrape refuses bad hashes; zero hashes is count 0', () => {
  for (const bad of [
    fullEscape(hashN(1).subarray(0, 19)),
    `${fullEscape(hashN(1))}00`,
    '',
    '%zz',
    fullEscape(hashN(1)).slice(0, -1),
  ]) {
    const { failure } = scrape(`info_hash=${fullEscape(hashN(2))}&info_hash=${bad}`, 10);
    assert.ok(failure !== null && /invalid info_hash/.test(failure), `${bad}: ${failure}`);
  }
  for (const q of ['', 'x=1', 'info_hashes=1&&', 'infohash=abc']) {
    const { failure, out } = scrape(q, 10);
    assert.equal(failure, null);
    assert.equal(out.count, 0);
  }
  // A reused ScrapeHashes starts from zero.
  const out = createScrapeHashes(4);
  const src = latin1(`info_hash=${fullEscape(hashN(1))}`);
  parseScrapeParams(src, 0, src.length, 4, out);
  assert.equal(out.count, 1);
  parseScrapeParams(src, 0, 0, 4, out);
  assert.equal(out.count, 0);
});

test('property: scrape returns the hashes that were sent; arbitrary input never throws', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(bytes20, clientStyle), { maxLength: 12 }),
      fc.integer({ min: 1, max: 12 }),
      (items, max) => {
        const query = items.map(([h, esc]) => `info_hash=${esc(h)}`).join('&');
        const { failure, out } = scrape(query, max);
        if (items.length > max) {
          assert.ok(failure?.includes(String(max)));
        } else {
          assert.equal(failure, null);
          assert.equal(out.count, items.length);
          assert.deepEqual(
            Uint8Array.from(out.hashes.subarray(0, out.count * 20)),
            Uint8Array.from(Buffer.concat(items.map(([h]) => h))),
          );
        }
      },
    ),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 5 }), (src, max) => {
      const out = createScrapeHashes(max);
      const failure = parseScrapeParams(src, 0, src.length, max, out);
      assert.ok(failure === null || typeof failure === 'string');
      assert.ok(out.count >= 0 && out.count <= max);
    }),
    { numRuns: 500 },
  );
});
