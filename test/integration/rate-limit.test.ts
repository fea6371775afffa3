// The per-address rate limits over real sockets: over the limit, HTTP gets a failure reason with BEP 31's `retry in`
// and UDP an error packet no larger than the request; other addresses, and the other kind of request, go on.
// Exempt networks (--rate-limit-exempt; loopback by default) are never refused nor answered from the repeat cache.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decode } from '../../src/protocol/bencode.ts';
import { announceTarget, get, pct, type Swarmd, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

const HASH = Buffer.alloc(20, 0x5a);
let s: Swarmd;
before(async () => {
  // --workers 2: the limits hold for the process, whichever worker answers. Loopback is exempt by default.
  s = await startSwarmd(
    ['127.0.0.1', '::1'],
    [
      ...[
        '--workers',
        '2',
        '--announce-rate',
        '1',
        '--announce-burst',
        '4',
        '--scrape-rate',
        '1',
        '--scrape-burst',
        '2',
      ],
      ...['--rate-limit-exempt', 'none'],
    ],
  );
});
after(() => s.stop());

function dict(body: Buffer): Record<string, unknown> {
  return decode(body) as Record<string, unknown>;
}

test('HTTP: the burst passes, then a failure reason with retry in; scrapes and other addresses are apart', async () => {
  const answers: Record<string, unknown>[] = [];
  for (let i = 0; i < 8; i++) {
    answers.push(dict((await get(s, announceTarget({ hash: HASH, port: 7000 + i }))).body));
  }
  const passed = answers.filter((a) => 'interval' in a).length;
  // A second may tick during the loop and add one token.
  assert.ok(passed >= 4 && passed <= 5, `${passed} of 8 passed`);
  const refused = answers.at(-1) as Record<string, unknown>;
  assert.equal(
    Buffer.from(refused['failure reason'] as Uint8Array).toString(),
    'too many requests from your address: slow down',
  );
  assert.equal(refused['retry in'], 1);

  // Scrapes have their own bucket.
  assert.ok('files' in dict((await get(s, `/scrape?info_hash=${pct(HASH)}`)).body));
  // Another address is not limited by this one.
  const other = await get({ host: '::1', port: s.port }, announceTarget({ hash: HASH, port: 7100 }));
  assert.ok('interval' in dict(other.body));
});

test('UDP: over the limit an error packet no larger than the request', async () => {
  const udp = new UdpClient('::1', s.port);
  try {
    const id = await udp.connect();
    const replies: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      const msg = udp.announceMessage(id, { hash: HASH, port: 7200 + i });
      const reply = await udp.request(msg);
      assert.ok(reply !== null);
      assert.ok(reply.length <= msg.length);
      replies.push(reply);
    }
    const errors = replies.filter((r) => r.readUInt32BE(0) === 3);
    // ::1 spent one announce in the HTTP test (if it ran first), so 3 or 4 pass, maybe one more on a second's tick.
    assert.ok(errors.length >= 2 && errors.length <= 5, `${errors.length} errors`);
    assert.match(errors[0].subarray(8).toString(), /^too many requests/);
  } finally {
    udp.close();
  }
});

test('/stats and /metrics count the refusals', async () => {
  const metrics = (await get(s, '/metrics')).body.toString();
  const m = /^swarmd_rate_limited_total (\d+)/m.exec(metrics);
  assert.ok(m !== null && Number(m[1]) >= 5, metrics.slice(0, 400));
});

/** Announces `count` times from `host`, each a new peer; how many were answered with peers rather than refused. */
async function announcesPassed(t: { host: string; port: number }, count: number, firstPort: number): Promise<number> {
  let passed = 0;
  for (let i = 0; i < count; i++) {
    if ('interval' in dict((await get(t, announceTarget({ hash: HASH, port: firstPort + i }))).body)) passed++;
  }
  return passed;
}

test('by default loopback is exempt: past the burst, and over UDP, nothing is refused', async () => {
  const d = await startSwarmd(['127.0.0.1'], ['--announce-rate', '1', '--announce-burst', '2']);
  try {
    assert.equal(await announcesPassed(d, 8, 7300), 8);
    const udp = new UdpClient('127.0.0.1', d.port);
    try {
      const id = await udp.connect();
      for (let i = 0; i < 8; i++) {
        const reply = await udp.request(udp.announceMessage(id, { hash: HASH, port: 7400 + i }));
        assert.equal(reply?.readUInt32BE(0), 1, `announce ${i}: answered`);
      }
    } finally {
      udp.close();
    }
    assert.match((await get(d, '/metrics')).body.toString(), /^swarmd_rate_limited_total 0$/m);
  } finally {
    await d.stop();
  }
});

test('--rate-limit-exempt replaces loopback: the network given is exempt from limits and cache, the rest is not', async () => {
  const d = await startSwarmd(
    ['127.0.0.1', '::1'],
    ['--announce-rate', '1', '--announce-burst', '2', '--min-interval', '60', '--rate-limit-exempt', '::1'],
  );
  try {
    const v6 = { host: '::1', port: d.port };
    assert.equal(await announcesPassed(v6, 8, 7500), 8);
    // The same peer again and again, early: a source that is not exempt would be answered from the repeat cache from
    // its third announce (repeat-announce.test.ts).
    for (let i = 0; i < 4; i++) await get(v6, announceTarget({ hash: HASH, port: 7500 }));
    const metrics = (await get(v6, '/metrics')).body.toString();
    assert.match(metrics, /^swarmd_repeat_announces_cached_total 0$/m);
    const passed = await announcesPassed(d, 8, 7600);
    assert.ok(passed >= 2 && passed <= 3, `127.0.0.1: ${passed} of 8 passed`);
  } finally {
    await d.stop();
  }
});
