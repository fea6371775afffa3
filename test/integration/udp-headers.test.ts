// What the native UDP addon sets in the IP headers of its replies, read off the loopback interface with a packet
// socket (python3, AF_PACKET): an IPv4 reply that always fits a 1280-byte path goes out with "don't fragment" and IP
// id 0, which spares the kernel a keyed id draw per datagram; a socket whose replies may be larger keeps the kernel's
// ids (and fragments); an IPv6 reply carries no automatic flow label. Needs root (CAP_NET_RAW), as CI has; elsewhere
// the test skips, and under CI=true a missing addon or capability fails it.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { nativeUdp, nativeUdpError } from '../../src/net/native-udp-addon.ts';

/** Prints one JSON line per UDP datagram from `port` seen on lo: IPv4 flags and id, or the IPv6 flow label. */
const SNIFFER = `
import json, socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.bind(("lo", 0))
print("ready", flush=True)
seen = 0
while seen < count:
    data, meta = s.recvfrom(65535)
    if meta[2] == socket.PACKET_OUTGOING:
        continue
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 15) * 4
        if data[9] != 17 or struct.unpack("!H", data[ihl:ihl + 2])[0] != port:
            continue
        ident, frag = struct.unpack("!HH", data[4:8])
        print(json.dumps({"df": bool(frag & 0x4000), "id": ident}), flush=True)
    elif version == 6:
        if data[6] != 17 or struct.unpack("!H", data[40:42])[0] != port:
            continue
        print(json.dumps({"flowLabel": struct.unpack("!I", data[0:4])[0] & 0xFFFFF}), flush=True)
    else:
        continue
    seen += 1
`;

const REPLIES = 8;

/** The exit code of `child`, or 'timeout' after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<number | string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Opens an echoing native socket with `outSlotSize`, sends REPLIES datagrams to it and returns what lo showed. */
async function headersOfReplies(host: string, outSlotSize: number): Promise<Record<string, number | boolean>[]> {
  if (nativeUdp === null) throw new Error('unreachable');
  const batch = 8;
  const slot = 64;
  const b = {
    inData: new Uint8Array(batch * slot),
    inLength: new Int32Array(batch),
    inAddr: new Uint8Array(batch * 16),
    outData: new Uint8Array(batch * outSlotSize),
    outLength: new Int32Array(batch),
  };
  const ipv6 = host.includes(':');
  const options = { ipv6, address: host, port: 0, reusePort: false, randomSpread: 0, recvBufferBytes: 1 << 20 };
  const socket = nativeUdp.open({ ...options, batch, slotSize: slot, outSlotSize }, b);
  const sniffer = spawn('python3', ['-c', SNIFFER, String(socket.port), String(REPLIES)]);
  const client = dgram.createSocket(ipv6 ? 'udp6' : 'udp4');
  try {
    let output = '';
    let errors = '';
    sniffer.stdout.on('data', (d) => {
      output += d;
    });
    sniffer.stderr.on('data', (d) => {
      errors += d;
    });
    const exit = exited(sniffer, 5000);
    for (let waited = 0; !output.includes('ready\n'); waited += 20) {
      if (sniffer.exitCode !== null || waited > 5000) throw new Error(`sniffer did not start: ${errors}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.start((count) => {
      for (let i = 0; i < count; i++) {
        b.outData.set(b.inData.subarray(i * slot, i * slot + b.inLength[i]), i * outSlotSize);
        b.outLength[i] = b.inLength[i];
      }
    });
    await new Promise<void>((resolve) => client.bind(0, host, resolve));
    for (let i = 0; i < REPLIES; i++) client.send(`probe ${i}`, socket.port, host);
    const code = await exit;
    assert.equal(code, 0, `sniffer: ${code} ${errors}`);
    return output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  } finally {
    sniffer.kill();
    client.close();
    socket.close();
  }
}

test('UDP replies: DF and id 0 on IPv4 when every reply fits 1280 bytes, kernel ids otherwise, no IPv6 flow label', async (t) => {
  if (nativeUdp === null) {
    if (process.env.CI) assert.fail(`native UDP addon did not load under CI: ${nativeUdpError}`);
    t.skip(`native UDP addon not loaded: ${nativeUdpError}`);
    return;
  }
  if (process.getuid?.() !== 0) {
    if (process.env.CI) assert.fail('CI runs as root: a packet socket is needed to read the headers');
    t.skip('reading IP headers off lo needs root');
    return;
  }
  // swarmd's default: 200 peers make 1,220-byte IPv4 replies.
  const small = await headersOfReplies('127.0.0.1', 1220);
  assert.equal(small.length, REPLIES);
  for (const h of small) assert.deepEqual(h, { df: true, id: 0 });

  // --max-peers 300 would make 1,820-byte replies: the kernel keeps its per-datagram ids.
  const large = await headersOfReplies('127.0.0.1', 1820);
  assert.equal(large.length, REPLIES);
  assert.ok(
    large.some((h) => h.id !== 0),
    `ids ${large.map((h) => h.id).join(',')}`,
  );

  const v6 = await headersOfReplies('::1', 1220);
  assert.equal(v6.length, REPLIES);
  for (const h of v6) assert.deepEqual(h, { flowLabel: 0 });
});
