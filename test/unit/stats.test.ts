// /stats in opentracker's formats: every mode's exact output over a small known swarm, the tpbs formats decoded
// back, the statedump, gzip, the XML document, and hostile query strings.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import bencode from 'bencode';
import fc from 'fast-check';
import { C, Counters } from '../../src/stats/counters.ts';
import { parseStatsQuery, type StatsContext, StatsPage } from '../../src/stats/modes.ts';
import { FAMILY_V4, FAMILY_V6, SwarmStore } from '../../src/swarm/store.ts';
import { Clock } from '../../src/tracker/clock.ts';
import { FullScrape } from '../../src/tracker/full-scrape.ts';

const H1 = Buffer.from(Array.from({ length: 20 }, (_, i) => i + 1)); // 0102…14
const H2 = Buffer.alloc(20, 0xaa);
const H3 = Buffer.alloc(20, 0x55);
const hex = (h: Buffer) => h.toString('hex').toUpperCase();

function v4(address: string, port: number): Buffer {
  return Buffer.from([...address.split('.').map(Number), port >> 8, port & 0xff]);
}

function v6(hex32: string, port: number): Buffer {
  return Buffer.concat([Buffer.from(hex32, 'hex'), Buffer.from([port >> 8, port & 0xff])]);
}

/** Seconds of uptime the fixture pretends: two hours, so that the rates are easy to check. */
const UPTIME = 7200;

/**
 * H1: a seeder that completed, two IPv4 leechers and an IPv6 leecher. H2: two seeders and a partial seed.
 * H3: restored from saved state with no peers, 7 downloads, last active ten minutes ago.
 */
function fixture(): StatsContext {
  const store = new SwarmStore({ peerTtl: 3600 });
  const clock = new Clock();
  const now = clock.now;
  store.announce(H1, FAMILY_V4, v4('10.0.0.1', 1), true, false, true, now);
  store.announce(H1, FAMILY_V4, v4('10.0.0.2', 2), false, false, false, now);
  store.announce(H1, FAMILY_V4, v4('10.0.0.17', 3), false, false, false, now);
  store.announce(H1, FAMILY_V6, v6('20010db8000100000000000000000001', 4), false, false, false, now);
  store.announce(H2, FAMILY_V4, v4('10.0.0.1', 4), true, false, false, now);
  store.announce(H2, FAMILY_V4, v4('192.168.1.1', 5), true, false, false, now);
  store.announce(H2, FAMILY_V4, v4('10.0.1.1', 6), false, true, false, now);
  store.restoreTorrent(H3, 0, 7, now - 600, now);
  return {
    store,
    clock,
    counters: new Counters(),
    fullScrape: new FullScrape(store, 60),
    startedAt: Date.now() - UPTIME * 1000 - 300,
    version: 'swarmd 0.1.0',
  };
}

async function get(page: StatsPage, query: string, gzip = false): Promise<string> {
  const r = await page.respond(query, gzip);
  assert.equal(r.status, 200, `${query}: ${r.body.toString()}`);
  return (r.gzip ? gunzipSync(r.body) : r.body).toString('latin1');
}

const UPTIME_LINE = `${UPTIME} seconds (2 hours)`;

test('peer (the default) and torr: MRTG lines over the swarm', async () => {
  const page = new StatsPage(fixture());
  const peer = '7\n3\nopentracker serving 3 torrents\nopentracker';
  assert.equal(await get(page, ''), peer);
  assert.equal(await get(page, 'mode=peer'), peer);
  assert.equal(await get(page, 'mode=torr'), '3\n0\nopentracker serving 3 torrents\nopentracker');
});

test('conn, tcp4, udp4, scrp, fscr, completed, syncs: two values, the uptime and a rate title', async () => {
  const ctx = fixture();
  const v = ctx.counters.values;
  v[C.tcpAccepts] = 3600;
  v[C.udpPackets] = 10800;
  v[C.tcpAnnounces] = 1000;
  v[C.udpAnnounces] = 2000;
  v[C.udpConnects] = 4200;
  v[C.tcpScrapes] = 500;
  v[C.udpScrapes] = 14000;
  v[C.fullScrapes] = 3;
  v[C.fullScrapeBytes] = 72000;
  v[C.completed] = 9;
  v[C.syncs] = 14400;
  const page = new StatsPage(ctx);
  const expected: Record<string, string> = {
    conn: `14400\n7200\n${UPTIME_LINE}\nopentracker connections, 2 conns/s :: 1 success/s.`,
    tcp4: `3600\n1000\n${UPTIME_LINE}\nopentracker tcp4 stats, 0 conns/s :: 0 success/s.`,
    udp4: `10800\n6200\n${UPTIME_LINE}\nopentracker udp4 stats, 1 conns/s :: 0 success/s.`,
    scrp: `500\n14000\n${UPTIME_LINE}\nopentracker scrape stats, 2 scrape/s (tcp and udp)`,
    fscr: `3\n72000\n${UPTIME_LINE}\nopentracker full scrape stats, 0 conns/s :: 10 bytes/s.`,
    completed: `9\n0\n${UPTIME_LINE}\nopentracker, 4 completed/h.`,
    syncs: `14400\n0\n${UPTIME_LINE}\nopentracker live sync stats, 2 records/s.`,
  };
  for (const [mode, text] of Object.entries(expected)) assert.equal(await get(page, `mode=${mode}`), text, mode);
});

test('a tracker up for less than a second divides by one, as opentracker does', async () => {
  const ctx = { ...fixture(), startedAt: Date.now() };
  ctx.counters.values[C.tcpAccepts] = 5;
  const lines = (await get(new StatsPage(ctx), 'mode=tcp4')).split('\n');
  assert.deepEqual(lines, ['5', '0', '0 seconds (0 hours)', 'opentracker tcp4 stats, 5 conns/s :: 0 success/s.']);
});

test('herr: every counted status with its label, then the bad-parameter refusals', async () => {
  const ctx = fixture();
  for (let k = 0; k < 3; k++) ctx.counters.httpStatus(404);
  ctx.counters.httpStatus(400);
  ctx.counters.httpStatus(431);
  ctx.counters.values[C.badParameter] = 5;
  assert.equal(
    await get(new StatsPage(ctx), 'mode=herr'),
    [
      '302 RED 0',
      '400 ... 1',
      '403 IP  0',
      '404 INV 3',
      '405 MTH 0',
      '408 TMO 0',
      '431 HDR 1',
      '500 SRV 0',
      '503 BSY 0',
      '505 VER 0',
      '200 PAR 5',
      '',
    ].join('\n'),
  );
});

test('renew: 45 lines, `NN count`, ages of 44 minutes and more in the last', async () => {
  const ctx = fixture();
  ctx.counters.renew(0);
  ctx.counters.renew(59);
  ctx.counters.renew(61);
  ctx.counters.renew(100_000);
  const lines = (await get(new StatsPage(ctx), 'mode=renew')).split('\n');
  assert.equal(lines.length, 46);
  assert.equal(lines[45], '');
  assert.equal(lines[0], '00 2');
  assert.equal(lines[1], '01 1');
  assert.equal(lines[2], '02 0');
  assert.equal(lines[44], '44 1');
  for (const [m, line] of lines.slice(0, 45).entries())
    assert.match(line, new RegExp(`^${String(m).padStart(2, '0')} \\d+$`));
});

test('version', async () => {
  assert.equal(await get(new StatsPage(fixture()), 'mode=version'), 'swarmd 0.1.0\n');
});

test('top10 and top100: by peers, by seeds, by leechers, uppercase hex, torrents with none left out', async () => {
  const page = new StatsPage(fixture());
  const body = (n: number) =>
    [
      `Top ${n} torrents by peers:`,
      `\t4\t${hex(H1)}`,
      `\t3\t${hex(H2)}`,
      `Top ${n} torrents by seeds:`,
      `\t2\t${hex(H2)}`,
      `\t1\t${hex(H1)}`,
      `Top ${n} torrents by leechers:`,
      `\t3\t${hex(H1)}`,
      `\t1\t${hex(H2)}`,
      '',
    ].join('\n');
  assert.equal(await get(page, 'mode=top10'), body(10));
  assert.equal(await get(page, 'mode=top100'), body(100));
});

test('top10 keeps the ten largest, in order, ties by ascending hash', async () => {
  const store = new SwarmStore({ peerTtl: 3600 });
  const hashes: Buffer[] = [];
  for (let t = 0; t < 15; t++) {
    const hash = Buffer.alloc(20, 0xf0 - t); // later torrents sort first
    hashes.push(hash);
    // Torrent t has t + 1 seeders, except that 13 and 14 tie with 12 (13 seeders each).
    const peers = Math.min(t + 1, 13);
    for (let p = 0; p < peers; p++) store.announce(hash, FAMILY_V4, v4(`10.1.${t}.${p}`, 1), true, false, false, 1);
  }
  const page = new StatsPage({ ...fixture(), store });
  const lines = (await get(page, 'mode=top10')).split('\n');
  const peers = lines.slice(1, 11);
  assert.deepEqual(
    peers.map((l) => l.split('\t')[1]),
    ['13', '13', '13', '12', '11', '10', '9', '8', '7', '6'],
  );
  // 12, 13 and 14 tie: the smallest hash first, which is torrent 14's.
  assert.deepEqual(
    peers.slice(0, 3).map((l) => l.split('\t')[2]),
    [hex(hashes[14]), hex(hashes[13]), hex(hashes[12])],
  );
  assert.equal(lines[11], 'Top 10 torrents by seeds:');
  assert.deepEqual(lines.slice(12, 22), peers);
  assert.equal(lines[22], 'Top 10 torrents by leechers:');
  assert.equal(lines[23], '');
});

test('s24s: IPv4 networks by peers at /28, then /24, opentracker layout', async () => {
  assert.equal(
    await get(new StatsPage(fixture()), 'mode=s24s'),
    [
      'Networks, limit /28:',
      '00000003: 10.0.0.0',
      '00000001: 10.0.0.16',
      '00000001: 10.0.1.0',
      '00000001: 192.168.1.0',
      '',
      'Networks, limit /24:',
      '00000004: 10.0.0.0',
      '00000001: 10.0.1.0',
      '00000001: 192.168.1.0',
      '',
      '',
    ].join('\n'),
  );
});

test('busy: IPv4 /24 and IPv6 /48 networks by peers in the s24s layout', async () => {
  assert.equal(
    await get(new StatsPage(fixture()), 'mode=busy'),
    [
      'Networks, limit /24:',
      '00000004: 10.0.0.0',
      '00000001: 10.0.1.0',
      '00000001: 192.168.1.0',
      '',
      'Networks, limit /48:',
      '00000001: 2001:db8:1::',
      '',
      '',
    ].join('\n'),
  );
});

test('a network table stops at 128 rows', async () => {
  const store = new SwarmStore({ peerTtl: 3600 });
  const hash = Buffer.alloc(20, 1);
  for (let n = 0; n < 200; n++) store.announce(hash, FAMILY_V4, v4(`10.${n}.0.1`, 1), true, false, false, 1);
  const text = await get(new StatsPage({ ...fixture(), store }), 'mode=s24s');
  const [by28, by24] = text.split('\n\n');
  assert.equal(by28.split('\n').length, 1 + 128);
  assert.equal(by24.split('\n').length, 1 + 128);
  assert.equal(by28.split('\n')[1], '00000001: 10.0.0.0');
});

/** A tiny XML check: one root, tags balanced and properly nested, attribute values quoted, `&` only in entities. */
function assertWellFormedXml(xml: string): void {
  const declaration = '<?xml version="1.0" encoding="UTF-8"?>\n';
  assert.ok(xml.startsWith(declaration));
  const body = xml.slice(declaration.length);
  const stack: string[] = [];
  let roots = 0;
  let at = 0;
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<&]*")*)\s*>/y;
  while (at < body.length) {
    const lt = body.indexOf('<', at);
    const text = body.slice(at, lt < 0 ? body.length : lt);
    assert.ok(!/[&>]/.test(text.replace(/&(#\d+|[a-z]+);/g, '')), `stray character in ${JSON.stringify(text)}`);
    if (stack.length === 0) assert.match(text, /^\s*$/, 'text outside the root');
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(body);
    assert.ok(m, `malformed tag at ${body.slice(lt, lt + 30)}`);
    if (m[1] === '/') assert.equal(stack.pop(), m[2]);
    else {
      if (stack.length === 0) roots++;
      stack.push(m[2]);
    }
    at = tag.lastIndex;
  }
  assert.deepEqual(stack, []);
  assert.equal(roots, 1);
}

test('everything: opentracker XML structure, two-space indentation, no final newline, our counters', async () => {
  const ctx = fixture();
  const v = ctx.counters.values;
  v[C.tcpAccepts] = 11;
  v[C.tcpAnnounces] = 12;
  v[C.tcpScrapes] = 13;
  v[C.udpPackets] = 21;
  v[C.udpConnects] = 22;
  v[C.udpAnnounces] = 23;
  v[C.udpScrapes] = 24;
  v[C.udpMismatch] = 25;
  v[C.syncs] = 31;
  v[C.completed] = 41;
  v[C.fullScrapes] = 51;
  v[C.fullScrapeBytes] = 52;
  v[C.refused] = 61;
  v[C.badParameter] = 71;
  ctx.counters.httpStatus(404);
  ctx.counters.renew(125);
  const r = await new StatsPage({ ...ctx, version: 'swarmd <1.0> & "x"' }).respond('mode=everything', true);
  assert.equal(r.contentType, 'text/xml; charset=utf-8');
  assert.equal(r.gzip, false);
  const xml = r.body.toString('utf8');
  assertWellFormedXml(xml);
  assert.ok(xml.endsWith('</stats>'));
  for (const line of xml.split('\n').slice(1)) {
    const indent = (line.match(/^ */) as RegExpMatchArray)[0].length;
    assert.equal(indent % 2, 0, line);
  }
  const value = (path: string) => {
    // Follow the nesting in the text: each step must open one level deeper than the last.
    let from = 0;
    for (const [depth, name] of path.split('/').entries()) {
      from = xml.indexOf(`\n${'  '.repeat(depth + 1)}<${name}`, from);
      assert.ok(from >= 0, path);
    }
    return (xml.slice(from).match(/>([^<]*)</) as RegExpMatchArray)[1];
  };
  assert.equal(value('tracker_id'), '0');
  assert.equal(value('version'), 'swarmd &#60;1.0&#62; &#38; &#34;x&#34;');
  assert.equal(value('uptime'), String(UPTIME));
  assert.equal(value('torrents/count_mutex'), '3');
  assert.equal(value('torrents/count_iterator'), '3');
  assert.equal(value('peers/count'), '7');
  assert.equal(value('seeds/count'), '3');
  assert.equal(value('completed/count'), '41');
  assert.equal(value('fullscrape/count'), '51');
  assert.equal(value('fullscrape/bytes'), '52');
  assert.equal(value('refused/count'), '61');
  assert.equal(value('connections/tcp/accept'), '11');
  assert.equal(value('connections/tcp/announce'), '12');
  assert.equal(value('connections/tcp/scrape'), '13');
  assert.equal(value('connections/udp/overall'), '21');
  assert.equal(value('connections/udp/connect'), '22');
  assert.equal(value('connections/udp/announce'), '23');
  assert.equal(value('connections/udp/scrape'), '24');
  assert.equal(value('connections/udp/missmatch'), '25');
  assert.equal(value('connections/livesync/count'), '31');
  assert.equal(value('debug/mutex_stall/count'), '0');
  const renews = [...xml.matchAll(/<count interval="(\d\d)">(\d+)<\/count>/g)];
  assert.equal(renews.length, 45);
  assert.deepEqual(
    renews.map((m) => m[1]),
    Array.from({ length: 45 }, (_, k) => String(k).padStart(2, '0')),
  );
  assert.equal(renews[2][2], '1');
  const codes = [...xml.matchAll(/<count code="([^"]+)">(\d+)<\/count>/g)].map((m) => `${m[1]}=${m[2]}`);
  assert.deepEqual(codes, [
    '302 Redirect=0',
    '400 Parse Error=0',
    '403 Access Denied=0',
    '404 Not found=1',
    '405 Method Not Allowed=0',
    '408 Request Timeout=0',
    '431 Request Header Fields Too Large=0',
    '500 Internal Server Error=0',
    '503 Service Unavailable=0',
    '505 HTTP Version Not Supported=0',
    '200 Invalid Parameter=71',
  ]);
});

test('tpbs without a format, and with format=ben: the bencoded full scrape', async () => {
  const ctx = fixture();
  const page = new StatsPage(ctx);
  const plain = (await ctx.fullScrape.body()).plain;
  for (const query of ['mode=tpbs', 'mode=tpbs&format=ben']) {
    const r = await page.respond(query, false);
    assert.equal(r.contentType, 'text/plain');
    assert.deepEqual(r.body, plain);
  }
  const d = bencode.decode(plain) as { files: Record<string, Record<string, number>>; flags: Record<string, number> };
  // The bencode package gives keys that are not UTF-8 in hex.
  const files = Object.fromEntries(
    Object.entries(d.files).map(([k, v]) => [/^[0-9a-f]{40}$/.test(k) ? k.toUpperCase() : hex(Buffer.from(k)), v]),
  );
  assert.deepEqual(files, {
    [hex(H1)]: { complete: 1, downloaded: 1, downloaders: 3, incomplete: 3 },
    [hex(H2)]: { complete: 2, downloaded: 0, downloaders: 0, incomplete: 1 },
    [hex(H3)]: { complete: 0, downloaded: 7, downloaders: 0, incomplete: 0 },
  });
  assert.deepEqual(d.flags, { min_request_interval: 60 });
});

test('tpbs format=bin: 20-byte hash, seeders and leechers u32 big-endian, in hash order', async () => {
  const r = await new StatsPage(fixture()).respond('mode=tpbs&format=bin', false);
  assert.equal(r.contentType, 'application/octet-stream');
  assert.equal(r.body.length, 3 * 28);
  const rows = [];
  for (let at = 0; at < r.body.length; at += 28) {
    rows.push([hex(r.body.subarray(at, at + 20)), r.body.readUInt32BE(at + 20), r.body.readUInt32BE(at + 24)]);
  }
  assert.deepEqual(rows, [
    [hex(H1), 1, 3],
    [hex(H3), 0, 0],
    [hex(H2), 2, 1],
  ]);
});

test('tpbs format=txt and format=txtp: uppercase hex lines', async () => {
  const page = new StatsPage(fixture());
  assert.equal(await get(page, 'mode=tpbs&format=txt'), `${hex(H1)}:1:3\n${hex(H3)}:0:0\n${hex(H2)}:2:1\n`);
  assert.equal(await get(page, 'mode=tpbs&format=txtp'), `${hex(H1)}:1:3:1\n${hex(H3)}:0:0:7\n${hex(H2)}:2:1:0\n`);
});

test('tpbs format=url: every byte percent-encoded, decoding back to the hash', async () => {
  const text = await get(new StatsPage(fixture()), 'mode=tpbs&format=url');
  const lines = text.split('\n');
  assert.equal(lines.pop(), '');
  const rows = lines.map((line) => {
    assert.match(line, /^(%[0-9A-F]{2}){20}:\d+:\d+$/);
    const [encoded, seeders, leechers] = line.split(':');
    return [hex(Buffer.from(encoded.replaceAll('%', ''), 'hex')), Number(seeders), Number(leechers)];
  });
  assert.deepEqual(rows, [
    [hex(H1), 1, 3],
    [hex(H3), 0, 0],
    [hex(H2), 2, 1],
  ]);
  assert.equal(decodeURIComponent(lines[0].split(':')[0]), H1.toString('latin1'));
});

test('tpbs is gzipped only when the client accepts gzip, and counts full scrapes and their bytes', async () => {
  const ctx = fixture();
  const page = new StatsPage(ctx);
  const plain = await page.respond('mode=tpbs&format=txt', false);
  assert.equal(plain.gzip, false);
  const zipped = await page.respond('mode=tpbs&format=txt', true);
  assert.equal(zipped.gzip, true);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);
  assert.equal(ctx.counters.total(C.fullScrapes), 2);
  assert.equal(ctx.counters.total(C.fullScrapeBytes), plain.body.length + zipped.body.length);
});

test('statedump: HEX40:base_minutes:downloaded per torrent, in hash order, gzipped on request', async () => {
  const ctx = fixture();
  const page = new StatsPage(ctx);
  const before = Math.floor(Date.now() / 60_000);
  const r = await page.respond('mode=statedump', false);
  const after = Math.floor(Date.now() / 60_000);
  assert.equal(r.gzip, false);
  assert.equal(r.contentType, 'text/plain');
  const lines = r.body.toString('latin1').split('\n');
  assert.equal(lines.pop(), '');
  const expected = (minute: number) => [
    `${hex(H1)}:${minute}:1`,
    `${hex(H3)}:${minute - 10}:7`,
    `${hex(H2)}:${minute}:0`,
  ];
  assert.ok(
    [before, after].some((m) => JSON.stringify(lines) === JSON.stringify(expected(m))),
    lines.join('\n'),
  );
  const zipped = await page.respond('mode=statedump', true);
  assert.equal(zipped.gzip, true);
  const unzipped = gunzipSync(zipped.body).toString('latin1');
  assert.match(unzipped, new RegExp(`^${hex(H1)}:\\d+:1\\n${hex(H3)}:\\d+:7\\n${hex(H2)}:\\d+:0\\n$`));
  assert.equal(ctx.counters.total(C.fullScrapes), 0, 'a statedump is not a full scrape');
});

test('an empty tracker answers every mode', async () => {
  const store = new SwarmStore({ peerTtl: 3600 });
  const page = new StatsPage({ ...fixture(), store, fullScrape: new FullScrape(store, 60) });
  assert.equal(await get(page, 'mode=peer'), '0\n0\nopentracker serving 0 torrents\nopentracker');
  assert.equal(
    await get(page, 'mode=top10'),
    'Top 10 torrents by peers:\nTop 10 torrents by seeds:\nTop 10 torrents by leechers:\n',
  );
  assert.equal(await get(page, 'mode=s24s'), 'Networks, limit /28:\n\nNetworks, limit /24:\n\n');
  assert.equal(await get(page, 'mode=tpbs&format=txt'), '');
  assert.equal(await get(page, 'mode=statedump'), '');
  assert.equal(await get(page, 'mode=tpbs'), 'd5:filesde5:flagsd20:min_request_intervali60eee');
});

test('query parsing: defaults, percent-encoded keys and values, the last mode wins, other keys ignored', () => {
  assert.deepEqual(parseStatsQuery(''), { mode: 'peer', format: null });
  assert.deepEqual(parseStatsQuery('mode=top100'), { mode: 'top100', format: null });
  assert.deepEqual(parseStatsQuery('%6Dode=%74orr'), { mode: 'torr', format: null });
  assert.deepEqual(parseStatsQuery('mode=tpbs&format=txtp'), { mode: 'tpbs', format: 'txtp' });
  assert.deepEqual(parseStatsQuery('mode=peer&mode=conn'), { mode: 'conn', format: null });
  assert.deepEqual(parseStatsQuery('x=%zz&&y&mode=scrp'), { mode: 'scrp', format: null });
  assert.deepEqual(parseStatsQuery('format=bin'), { mode: 'peer', format: 'bin' });
});

test('refused queries get 400 with a one-line reason', async () => {
  const page = new StatsPage(fixture());
  const refused = {
    'mode=xyz': /unknown stats mode/,
    'mode=': /unknown stats mode/,
    mode: /unknown stats mode/,
    'mode=PEER': /unknown stats mode/,
    'mode=fulllog': /unknown stats mode/,
    'mode=peerpeerpeerpeerpeer': /unknown stats mode/,
    'mode=tpbs&format=xml': /unknown format/,
    'format=': /unknown format/,
    'mode=%2': /malformed/,
    'mo%zzde=peer': /malformed/,
    'info_hash=%aa%bb': /info_hash/,
    'mode=peer&info_hash': /info_hash/,
    'info%5Fhash=x': /info_hash/,
  };
  for (const [query, reason] of Object.entries(refused)) {
    const r = await page.respond(query, true);
    assert.equal(r.status, 400, query);
    assert.equal(r.gzip, false);
    assert.equal(r.contentType, 'text/plain');
    const text = r.body.toString();
    assert.match(text, reason, query);
    assert.match(text, /^[^\n]+\n$/, query);
  }
});

test('property: any query string gets a reply, never an exception', async () => {
  const ctx = fixture();
  const page = new StatsPage(ctx);
  const piece = fc.oneof(
    fc.constantFrom('mode', 'format', 'info_hash', 'tpbs', 'statedump', 'ben', 'url', '=', '&', '%', '%2', '%zz', '+'),
    fc.constantFrom('%6D', '%00', '%FF', '\u0000', '\u00ff', '\u2603', '\ud800'),
    fc.string({ maxLength: 8 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { maxLength: 12 }), fc.boolean(), async (pieces, gzip) => {
      const r = await page.respond(pieces.join(''), gzip);
      assert.ok(r.status === 200 || r.status === 400, String(r.status));
      assert.ok(Buffer.isBuffer(r.body));
      if (r.status === 400) assert.match(r.body.toString(), /^[^\n]+\n$/);
    }),
    { numRuns: 500 },
  );
});

test('FullScrape: concurrent callers share one snapshot and one build per format', async () => {
  const { fullScrape } = fixture();
  assert.equal(fullScrape.snapshot(), fullScrape.snapshot());
  const ben = fullScrape.body();
  assert.equal(fullScrape.body('ben'), ben);
  assert.notEqual(fullScrape.body('txt'), ben);
  const body = await ben;
  assert.deepEqual(gunzipSync(await body.gzipped()), body.plain);
  assert.equal(body.gzipped(), body.gzipped());
  // Once settled, the next call builds afresh.
  assert.notEqual(fullScrape.body(), ben);
});
