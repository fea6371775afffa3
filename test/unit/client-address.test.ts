import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createRequestHead, HEAD_OK, parseRequestHead } from '../../src/protocol/http-request.ts';
import { formatIp, parseIPv4, parseIPv6 } from '../../src/protocol/ip.ts';
import { NetworkList, parseNetwork } from '../../src/protocol/networks.ts';
import { FAMILY_V4, FAMILY_V6 } from '../../src/swarm/store.ts';
import { type ClientAddress, ClientAddressResolver } from '../../src/tracker/client-address.ts';

function address(text: string): ClientAddress {
  const addr = new Uint8Array(16);
  if (parseIPv4(text, addr, 0)) return { family: FAMILY_V4, addr: addr.subarray(0, 4) };
  assert.ok(parseIPv6(text, addr, 0), text);
  return { family: FAMILY_V6, addr };
}

function contains(list: NetworkList, text: string): boolean {
  const a = address(text);
  return list.contains(a.addr, 0, a.family === FAMILY_V4 ? 4 : 16);
}

test('networks: prefixes of every length, single addresses, v4-mapped clients', () => {
  const list = new NetworkList(['10.0.0.0/8', '192.168.1.128/25', '127.0.0.1', '2001:db8::/32', '::1', '0.0.0.0/0']);
  assert.equal(list.size, 6);
  const only = (nets: string[], yes: string[], no: string[]) => {
    const l = new NetworkList(nets);
    for (const a of yes) assert.ok(contains(l, a), `${nets} should contain ${a}`);
    for (const a of no) assert.ok(!contains(l, a), `${nets} should not contain ${a}`);
  };
  only(['10.0.0.0/8'], ['10.0.0.1', '10.255.255.255', '::ffff:10.1.2.3'], ['11.0.0.0', '9.255.255.255', '::1']);
  only(['192.168.1.128/25'], ['192.168.1.128', '192.168.1.255'], ['192.168.1.127', '192.168.2.200']);
  only(['127.0.0.1'], ['127.0.0.1'], ['127.0.0.2']);
  only(['2001:db8::/32'], ['2001:db8::1', '2001:db8:ffff::'], ['2001:db9::', '10.0.0.1']);
  only(['0.0.0.0/0'], ['1.2.3.4', '255.255.255.255'], ['::2']);
  only(['::/0'], ['::2', 'fe80::1'], ['1.2.3.4']);
  assert.deepEqual(parseNetwork('10.1.2.3/8'), { bytes: Uint8Array.from([10, 0, 0, 0]), bits: 8 });
  assert.equal(typeof parseNetwork('10.0.0.0/'), 'string');
  assert.equal(typeof parseNetwork('fe80::1%eth0'), 'string');
  assert.throws(() => new NetworkList(['nope']), RangeError);
});

test('property: a network contains exactly the addresses that share its prefix', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.nat(32),
      (net, probe, bits) => {
        const list = new NetworkList([`${formatIp(net, 0, 4)}/${bits}`]);
        const a = (Buffer.from(net).readUInt32BE(0) >>> (32 - bits)) * (bits === 0 ? 0 : 1);
        const b = (Buffer.from(probe).readUInt32BE(0) >>> (32 - bits)) * (bits === 0 ? 0 : 1);
        assert.equal(list.contains(probe, 0, 4), bits === 0 || a === b);
      },
    ),
  );
});

/** Resolves the client of a request with `headers` arriving from `socket`. */
function resolve(proxies: string[], socket: string, headers: string): string {
  const buf = Buffer.from(`GET /announce HTTP/1.1\r\n${headers}\r\n`, 'latin1');
  const head = createRequestHead();
  assert.equal(parseRequestHead(buf, 0, buf.length, head), HEAD_OK);
  const r = new ClientAddressResolver(new NetworkList(proxies)).resolve(buf, head, address(socket));
  return formatIp(r.addr, 0, r.family === FAMILY_V4 ? 4 : 16);
}

test('proxy headers count only from a trusted proxy', () => {
  assert.equal(resolve([], '10.0.0.1', 'X-Forwarded-For: 1.2.3.4\r\n'), '10.0.0.1');
  assert.equal(resolve(['10.0.0.0/8'], '192.0.2.1', 'X-Forwarded-For: 1.2.3.4\r\n'), '192.0.2.1');
  assert.equal(resolve(['10.0.0.0/8'], '10.0.0.1', 'X-Forwarded-For: 1.2.3.4\r\n'), '1.2.3.4');
  assert.equal(resolve(['10.0.0.0/8'], '10.0.0.1', ''), '10.0.0.1');
});

test('the rightmost address that is not a trusted proxy wins', () => {
  const trusted = ['10.0.0.0/8', '2001:db8::/32'];
  // The client wrote 6.6.6.6 itself; the first proxy saw 1.2.3.4; the second proxy is trusted.
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: 6.6.6.6, 1.2.3.4, 10.0.0.2\r\n'), '1.2.3.4');
  // Several headers are one list, in order.
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n'), '1.2.3.4');
  // Every hop trusted: the leftmost.
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: 10.9.9.9, 10.0.0.2\r\n'), '10.9.9.9');
  // An unusable entry stops the walk: nothing left of it can be trusted.
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: 6.6.6.6, garbage, 10.0.0.2\r\n'), '10.0.0.2');
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: garbage\r\n'), '10.0.0.1');
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: 2001:db8::5, 2a00::1\r\n'), '2a00::1');
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Forwarded-For: ::ffff:1.2.3.4\r\n'), '1.2.3.4');
});

test('Forwarded wins over X-Forwarded-For, which wins over X-Real-IP', () => {
  const trusted = ['10.0.0.0/8'];
  const all = 'X-Real-IP: 3.3.3.3\r\nX-Forwarded-For: 2.2.2.2\r\nForwarded: for=1.1.1.1;proto=https\r\n';
  assert.equal(resolve(trusted, '10.0.0.1', all), '1.1.1.1');
  assert.equal(resolve(trusted, '10.0.0.1', 'X-Real-IP: 3.3.3.3\r\nX-Forwarded-For: 2.2.2.2\r\n'), '2.2.2.2');
  assert.equal(resolve(trusted, '10.0.0.1', 'x-real-ip: 3.3.3.3\r\n'), '3.3.3.3');
  assert.equal(
    resolve(trusted, '10.0.0.1', 'Forwarded: for="[2001:db8::1]:4711", for=10.0.0.3;by=10.0.0.1\r\n'),
    '2001:db8::1',
  );
  assert.equal(resolve(trusted, '10.0.0.1', 'Forwarded: for=1.2.3.4:8080\r\n'), '1.2.3.4');
  assert.equal(resolve(trusted, '10.0.0.1', 'Forwarded: for=unknown\r\n'), '10.0.0.1');
});

/** An address as formatIp writes it (IPv4 for a v4-mapped one), or null. */
function normal(text: string): string | null {
  const b = new Uint8Array(16);
  if (parseIPv4(text, b, 0)) return formatIp(b, 0, 4);
  if (!parseIPv6(text, b, 0)) return null;
  const mapped = b.subarray(0, 12).every((x, i) => x === (i < 10 ? 0 : 0xff));
  return mapped ? formatIp(b, 12, 4) : formatIp(b, 0, 16);
}

test('property: whatever the headers say, the answer is the socket or an address written in them', () => {
  const addr = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('unknown', '', ' ', '[', '::ffff:1.2.3.4'));
  fc.assert(
    fc.property(
      fc.array(addr, { maxLength: 6 }),
      fc.constantFrom('X-Forwarded-For', 'Forwarded', 'X-Real-IP'),
      (list, name) => {
        const value = name === 'Forwarded' ? list.map((a) => `for="${a}"`).join(', ') : list.join(', ');
        const got = resolve(['10.0.0.0/8'], '10.0.0.1', `${name}: ${value}\r\n`);
        const written = new Set(list.map(normal));
        assert.ok(got === '10.0.0.1' || written.has(got), `${got} from ${value}`);
      },
    ),
  );
});
