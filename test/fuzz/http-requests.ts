// Generators of HTTP tracker requests, for the fuzz targets of the request parser and of the HTTP handler: announces
// with their parameters in any order and either hex case, scrapes of up to 10 hashes (the fixture allows 8), stats and
// metrics requests, with the headers that change what the tracker does (Connection, Accept-Encoding, proxy headers).

import fc from 'fast-check';
import { STATS_MODES } from '../../src/stats/modes.ts';
import { SCRAPE_FORMATS } from '../../src/tracker/full-scrape.ts';
import { bytes, hostile, latin1, mutated, percentEncode } from './mutate.ts';
import { infoHash, port } from './tracker.ts';

/** The pairs of an announce query, in a random order, each value percent-encoded the way some client does it. */
export const announceTarget = fc
  .record({
    hash: infoHash,
    peerId: bytes(20),
    port,
    left: fc.option(fc.oneof(fc.constant(0), fc.nat())),
    event: fc.option(fc.constantFrom('started', 'completed', 'stopped', 'paused', 'empty', 'bogus', '')),
    numwant: fc.option(fc.integer({ min: -5, max: 500 })),
    compact: fc.option(fc.constantFrom('0', '1')),
    ip: fc.option(fc.constantFrom('10.1.2.3', '2001:db8::7', '::ffff:10.0.0.1', 'fe80::1%25eth0', 'not-an-ip')),
    extra: fc.subarray(['key=abc', 'supportcrypto=1', 'no_peer_id=1', 'trackerid=x', 'corrupt=0', 'uploaded=5']),
    lower: fc.boolean(),
  })
  .chain((q) => {
    const pairs = [
      `info_hash=${percentEncode(q.hash, q.lower)}`,
      `peer_id=${percentEncode(q.peerId, q.lower)}`,
      `port=${q.port}`,
      ...(q.left === null ? [] : [`left=${q.left}`]),
      ...(q.event === null ? [] : [`event=${q.event}`]),
      ...(q.numwant === null ? [] : [`numwant=${q.numwant}`]),
      ...(q.compact === null ? [] : [`compact=${q.compact}`]),
      ...(q.ip === null ? [] : [`ip=${q.ip}`]),
      ...q.extra,
    ];
    return fc.shuffledSubarray(pairs, { minLength: pairs.length, maxLength: pairs.length });
  })
  .map((pairs) => `/announce?${pairs.join('&')}`);

const scrapeTarget = fc
  .array(infoHash, { maxLength: 10 })
  .map(
    (hashes) =>
      `/scrape${hashes.length === 0 ? '' : '?'}${hashes.map((h) => `info_hash=${percentEncode(h)}`).join('&')}`,
  );

const statsTarget = fc
  .tuple(fc.constantFrom(...STATS_MODES, 'bogus'), fc.option(fc.constantFrom(...SCRAPE_FORMATS, 'bogus')))
  .map(([mode, format]) => `/stats?mode=${mode}${format === null ? '' : `&format=${format}`}`);

const target = fc.oneof(
  { weight: 6, arbitrary: announceTarget },
  { weight: 3, arbitrary: scrapeTarget },
  { weight: 1, arbitrary: statsTarget },
  { weight: 1, arbitrary: fc.constantFrom('/metrics', '/', '/favicon.ico', '/announce', '/stats', '/scrape?x=1') },
);

const header = fc.constantFrom(
  'Host: tracker.example:6969',
  'User-Agent: fuzz/1.0',
  'Connection: close',
  'Connection: keep-alive',
  'Accept-Encoding: gzip',
  'Accept-Encoding: gzip;q=0, *',
  'Content-Length: 0',
  'X-Forwarded-For: 198.51.100.9',
  'X-Forwarded-For: 198.51.100.9, 127.0.0.1',
  'X-Real-IP: 2001:db8::99',
  'Forwarded: for="[2001:db8::1]:4711";proto=http',
  'Forwarded: for=unknown',
);

/** One request head: method, target, version, headers, with either line end. */
export const httpRequest = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'GET', 'HEAD', 'POST'),
    target,
    version: fc.constantFrom('1.1', '1.0'),
    headers: fc.array(header, { maxLength: 4 }),
    eol: fc.constantFrom('\r\n', '\n'),
  })
  .map((r) =>
    latin1(`${r.method} ${r.target} HTTP/${r.version}${r.eol}${r.headers.map((h) => h + r.eol).join('')}${r.eol}`),
  );

export const HTTP_TOKENS = [
  'GET ',
  'HEAD ',
  ' HTTP/1.1',
  ' HTTP/1.0',
  ' HTTP/2.0',
  ':',
  '?',
  '&',
  '=',
  '%',
  '%2',
  '%zz',
  '%00',
  '%0d%0a',
  '+',
  'info_hash=',
  'port=',
  'event=stopped&',
  '\r\n\r\n',
  '\n\n',
  'Content-Length: 1\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Connection: close\r\n',
  'X-Forwarded-For: ',
  '/announce',
  '/scrape',
  '/stats',
];

/** One to three requests on a connection, each perhaps mutated; or arbitrary bytes. */
export const connectionBytes = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(mutated(httpRequest, HTTP_TOKENS), { minLength: 1, maxLength: 3 }).map((r) => Buffer.concat(r)),
  },
  { weight: 1, arbitrary: hostile(HTTP_TOKENS, 600) },
);
