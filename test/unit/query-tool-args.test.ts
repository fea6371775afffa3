// The query tool's command line and tracker URLs: defaults, every refusal, the BEP 48 scrape URL, the query string.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseQueryArgs, type QueryOptions, UsageError } from '../../src/cli/query/args.ts';
import {
  announceQuery,
  parseTrackerUrl,
  percentEncode,
  scrapeQuery,
  scrapeUrlOf,
  withParams,
} from '../../src/cli/query/urls.ts';

const HASH = 'aabbccddeeff00112233445566778899aabbccdd';
const HASH2 = '00112233445566778899aabbccddeeff00112233';

function parse(...argv: string[]): QueryOptions {
  const options = parseQueryArgs(argv);
  assert.notEqual(options, 'help');
  return options as QueryOptions;
}

function refused(argv: string[], reason: RegExp): void {
  assert.throws(
    () => parseQueryArgs(argv),
    (err: Error) => err instanceof UsageError && reason.test(err.message),
  );
}

test('announce defaults: random hash, -SQ0001- peer id, port 6881, 50 wanted, started, 10 s, table', () => {
  const o = parse('-t', 'http://tracker.example/announce');
  assert.equal(o.mode, 'announce');
  assert.equal(o.hashes.length, 1);
  assert.equal(o.hashes[0].length, 20);
  assert.match(Buffer.from(o.peerId).toString('latin1'), /^-SQ0001-[0-9A-Za-z]{12}$/);
  assert.deepEqual(
    [o.port, o.numWant, o.left, o.event, o.timeoutSeconds, o.json, o.showPeers],
    [6881, 50, 1_000_000_000, 'started', 10, false, false],
  );
  assert.match(o.userAgent, /^swarmd-query\/\d+\.\d+\.\d+/);
  assert.notDeepEqual(parse('-t', 'udp://h:1').hashes[0], o.hashes[0], 'a new random hash each time');
});

test('every announce flag, short and long', () => {
  const o = parse(
    ...['-t', 'udp://[::1]:6969/announce', '-H', HASH.toUpperCase(), '-e', 'completed', '-n', '7', '--port', '51413'],
    ...['--peer-id', '-XX0001-abcdefghijkl', '-p', '--json', '--timeout', '0.5'],
  );
  assert.deepEqual(o.tracker, { protocol: 'udp', href: 'udp://[::1]:6969/announce', host: '::1', port: 6969 });
  assert.equal(Buffer.from(o.hashes[0]).toString('hex'), HASH);
  assert.deepEqual([o.event, o.numWant, o.left, o.port], ['completed', 7, 0, 51413]);
  assert.equal(Buffer.from(o.peerId).toString(), '-XX0001-abcdefghijkl');
  assert.deepEqual([o.showPeers, o.json, o.timeoutSeconds], [true, true, 0.5]);
  assert.equal(parse('-t', 'http://h/announce', '-L', '12', '-e', 'completed').left, 12);
  assert.equal(
    Buffer.from(parse('-t', 'http://h/a', '--peer-id', 'ff'.repeat(20)).peerId).toString('hex'),
    'ff'.repeat(20),
  );
  assert.equal(parse('-t', 'http://h/a', '-o', 'json').json, true);
  assert.equal(parse('-t', 'http://h/a', '-e', 'none').event, 'none');
});

test('-r looks like a qBittorrent release: its User-Agent and matching peer id prefix', () => {
  const o = parse('-t', 'http://h/announce', '-r');
  const version = /^qBittorrent\/(\d)\.(\d)\.(\d)$/.exec(o.userAgent);
  assert.ok(version, o.userAgent);
  assert.ok(Buffer.from(o.peerId).toString('latin1').startsWith(`-qB${version[1]}${version[2]}${version[3]}0-`));
});

test('scrape: -s with hashes; --full-scrape with none; HTTPS options', () => {
  const s = parse('-t', 'https://h/x/announce.php?pk=1', '-s', '-H', HASH, '-H', HASH2, '--ca', 'ca.pem');
  assert.equal(s.mode, 'scrape');
  assert.deepEqual(
    s.hashes.map((h) => Buffer.from(h).toString('hex')),
    [HASH, HASH2],
  );
  assert.equal(s.caFile, 'ca.pem');
  const full = parse('-t', 'http://h/announce', '--full-scrape', '-k');
  assert.deepEqual([full.mode, full.hashes.length, full.insecure], ['full-scrape', 0, true]);
  assert.equal(parse('-t', 'udp://h:1', '-s', ...Array(74).fill(['-H', HASH]).flat()).hashes.length, 74);
});

test('-h/--help', () => {
  assert.equal(parseQueryArgs(['-h']), 'help');
  assert.equal(parseQueryArgs(['--help', '-t', 'x']), 'help');
});

test('usage errors, each with its reason', () => {
  refused([], /no tracker/);
  refused(['-t', 'http://h/a', '--bogus'], /^Unknown option '--bogus'$/);
  refused(['-t', 'http://h/a', 'extra'], /^Unexpected argument 'extra'$/);
  refused(['-t'], /argument missing/);
  refused(['-t', 'not a url'], /is not a URL/);
  refused(['-t', 'ftp://h/announce'], /'ftp:' trackers are not supported/);
  refused(['-t', 'udp://h/announce'], /has no port/);
  refused(['-t', 'udp://h:0'], /has no port/);
  refused(['-t', 'http://h/a', '-H', 'xyz'], /'xyz' is not 40 hex digits/);
  refused(['-t', 'http://h/a', '-H', `${HASH}0`], /is not 40 hex digits/);
  refused(['-t', 'http://h/a', '-H', HASH, '-H', HASH2], /an announce takes one/);
  refused(['-t', 'http://h/a', '-e', 'paused'], /'paused' is not one of started, completed, stopped, none/);
  refused(['-t', 'http://h/a', '-n', '-1'], /-n\/--num-want/);
  refused(['-t', 'http://h/a', '-n', '2147483648'], /-n\/--num-want '2147483648' is not a whole number/);
  refused(['-t', 'http://h/a', '-L', '1e3'], /-L\/--left '1e3'/);
  refused(['-t', 'http://h/a', '--port', '65536'], /--port '65536' is not a port/);
  refused(['-t', 'http://h/a', '--peer-id', 'short'], /--peer-id 'short' is 5 bytes, not 20/);
  refused(['-t', 'http://h/a', '--timeout', '0'], /--timeout '0'/);
  refused(['-t', 'http://h/a', '--timeout', 'x'], /--timeout 'x'/);
  refused(['-t', 'http://h/a', '-o', 'csv'], /'csv' is not table or json/);
  refused(['-t', 'http://h/a', '--json', '-o', 'table'], /contradict/);
  refused(['-t', 'http://h/announce', '-s'], /--scrape needs at least one/);
  refused(['-t', 'http://h/announce', '--full-scrape', '-H', HASH], /--full-scrape sends no hash/);
  refused(['-t', 'http://h/announce', '-s', '-H', HASH, '-e', 'stopped'], /--event is for announces/);
  refused(['-t', 'http://h/announce', '-s', '-H', HASH, '-p'], /--show-peers is for announces/);
  refused(['-t', 'http://h/tracker', '-s', '-H', HASH], /cannot scrape http:\/\/h\/tracker/);
  refused(['-t', 'udp://h:1', '--full-scrape'], /UDP trackers have no full scrape/);
  refused(['-t', 'udp://h:1', '-s', ...Array(75).fill(['-H', HASH]).flat()], /at most 74 hashes, not 75/);
  refused(['-t', 'udp://h:1', '-k'], /are for http/);
  refused(['-t', 'https://h/a', '-k', '--ca', 'f'], /contradict/);
});

test('tracker URLs: default ports, IPv6 brackets off, fragment dropped', () => {
  assert.deepEqual(parseTrackerUrl('http://h/announce#x'), {
    protocol: 'http',
    href: 'http://h/announce',
    host: 'h',
    port: 80,
  });
  assert.deepEqual(parseTrackerUrl('https://[2001:db8::1]/announce'), {
    protocol: 'https',
    href: 'https://[2001:db8::1]/announce',
    host: '2001:db8::1',
    port: 443,
  });
  assert.equal((parseTrackerUrl('udp://tracker.example:6969') as { port: number }).port, 6969);
});

test('BEP 48: the scrape URL replaces a leading "announce" in the last path component, keeping the query', () => {
  const cases: [string, string | null][] = [
    ['http://example.com/announce', 'http://example.com/scrape'],
    ['http://example.com/x/announce', 'http://example.com/x/scrape'],
    ['http://example.com/announce.php', 'http://example.com/scrape.php'],
    ['http://example.com/a/announce?x2%0644', 'http://example.com/a/scrape?x2%0644'],
    ['http://example.com/announce?pk=12&x=1', 'http://example.com/scrape?pk=12&x=1'],
    ['http://example.com/a', null],
    ['http://example.com/announce/x', null],
    ['http://example.com/x%064announce', null],
    ['http://example.com/', null],
  ];
  for (const [announce, scrape] of cases) assert.equal(scrapeUrlOf(announce), scrape, announce);
});

test('request query: every byte of the hash and peer id percent-encoded; passkey queries kept', () => {
  assert.equal(percentEncode(new Uint8Array([0, 0x2d, 0xff, 0x41])), '%00%2D%FF%41');
  const q = announceQuery({
    infoHash: new Uint8Array(20).fill(0xab),
    peerId: Buffer.from('-SQ0001-abcdefghijkl'),
    port: 6881,
    left: 5,
    numWant: 50,
    event: 'started',
  });
  assert.equal(
    q,
    `info_hash=${'%AB'.repeat(20)}&peer_id=%2D%53%51%30%30%30%31%2D%61%62%63%64%65%66%67%68%69%6A%6B%6C` +
      '&port=6881&uploaded=0&downloaded=0&left=5&compact=1&numwant=50&event=started',
  );
  assert.ok(
    !announceQuery({
      infoHash: new Uint8Array(20),
      peerId: new Uint8Array(20),
      port: 1,
      left: 0,
      numWant: 0,
      event: null,
    }).includes('event'),
  );
  assert.equal(withParams('http://h/announce', 'a=1'), 'http://h/announce?a=1');
  assert.equal(withParams('http://h/announce?', 'a=1'), 'http://h/announce?a=1');
  assert.equal(withParams('http://h/announce?pk=x', 'a=1'), 'http://h/announce?pk=x&a=1');
  assert.equal(
    scrapeQuery([new Uint8Array(20), new Uint8Array(20).fill(1)]),
    `info_hash=${'%00'.repeat(20)}&info_hash=${'%01'.repeat(20)}`,
  );
});

test('property: percent-encoding writes every byte as %XX', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const encoded = percentEncode(bytes);
      assert.match(encoded, /^(%[0-9A-F]{2})*$/);
      assert.deepEqual(new Uint8Array(Buffer.from(encoded.replaceAll('%', ''), 'hex')), bytes);
    }),
  );
});
