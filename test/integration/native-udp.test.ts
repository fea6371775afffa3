// The native UDP addon (native/udp_batch.c) on real loopback sockets: batches, replies to the right source, no-reply
// slots, truncation, SO_REUSEPORT, bind errors, close, worker_threads. Skipped when the addon is not built, except
// under CI=true, where the native path must be proven.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, type TestContext, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  type BatchBuffers,
  type BatchSocket,
  type NativeUdp,
  nativeUdp,
  nativeUdpError,
  type OpenOptions,
} from '../../src/net/native-udp-addon.ts';

const ADDON_MODULE = new URL('../../src/net/native-udp-addon.ts', import.meta.url).href;
const TIMEOUT = 5000;

/** The addon, or null after skipping `t`; under CI a missing addon fails the test instead. */
function addon(t: TestContext): NativeUdp | null {
  if (nativeUdp) return nativeUdp;
  if (process.env.CI) assert.fail(`native UDP addon did not load under CI: ${nativeUdpError}`);
  t.skip(`native UDP addon not loaded: ${nativeUdpError}`);
  return null;
}

function buffers(batch: number, slotSize: number, outSlotSize: number): BatchBuffers {
  return {
    inData: new Uint8Array(batch * slotSize),
    inLength: new Int32Array(batch),
    inAddr: new Uint8Array(batch * 16),
    outData: new Uint8Array(batch * outSlotSize),
    outLength: new Int32Array(batch),
  };
}

function options(host: string, over: Partial<OpenOptions> = {}): OpenOptions {
  return {
    ipv6: host.includes(':'),
    address: host,
    port: 0,
    reusePort: false,
    randomSpread: 0,
    recvBufferBytes: 1 << 20,
    batch: 32,
    slotSize: 256,
    outSlotSize: 256,
    ...over,
  };
}

/** A client socket bound on loopback that collects what it receives. */
class Client {
  readonly socket: dgram.Socket;
  readonly received: Buffer[] = [];
  private waiter: { count: number; resolve: () => void } | null = null;

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (msg) => {
      this.received.push(msg);
      if (this.waiter && this.received.length >= this.waiter.count) this.waiter.resolve();
    });
  }

  static async open(host: string): Promise<Client> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new Client(socket);
  }

  send(msg: string | Uint8Array, port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(msg, port, host, (err) => (err ? reject(err) : resolve())),
    );
  }

  /**
   * Resolves once `count` datagrams in all have arrived; rejects after `ms`, so that a test that gets no reply fails
   * and closes its sockets rather than keeping the process alive.
   */
  waitFor(count: number, ms = 2000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.received.length} of ${count} datagrams after ${ms} ms`)),
        ms,
      );
      this.waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  close(): void {
    this.socket.close();
  }
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

for (const host of ['127.0.0.1', '::1']) {
  const v6 = host.includes(':');
  const loopback = v6 ? [...new Uint8Array(15), 1] : [127, 0, 0, 1];

  describe(`native UDP over ${v6 ? 'IPv6' : 'IPv4'}`, () => {
    test('batches of datagrams from several clients; each reply goes back to its source; polled again after', {
      timeout: TIMEOUT,
    }, async (t) => {
      const native = addon(t);
      if (!native) return;
      const slotSize = 64;
      const b = buffers(32, slotSize, slotSize + 16);
      const socket = native.open(options(host, { slotSize, outSlotSize: slotSize + 16 }), b);
      const clients = await Promise.all([0, 1, 2].map(() => Client.open(host)));
      const perClient = 25;
      try {
        assert.ok(socket.port > 0);
        // The whole burst is queued in the kernel before polling starts, so recvmmsg returns full batches.
        for (const [c, client] of clients.entries()) {
          for (let i = 0; i < perClient; i++) await client.send(`c${c}-${i}`, socket.port, host);
        }
        const counts: number[] = [];
        socket.start((count) => {
          counts.push(count);
          for (let i = 0; i < count; i++) {
            // Reply: the source address as the addon saw it, then the payload reversed.
            const len = b.inLength[i];
            const out = i * (slotSize + 16);
            const addrLength = v6 ? 16 : 4;
            b.outData.set(b.inAddr.subarray(i * 16, i * 16 + addrLength), out);
            b.outData.set(b.inData.subarray(i * slotSize, i * slotSize + len).reverse(), out + addrLength);
            b.outLength[i] = addrLength + len;
          }
        });
        await Promise.all(clients.map((client) => client.waitFor(perClient)));
        assert.equal(
          counts.reduce((a, n) => a + n, 0),
          3 * perClient,
        );
        // A batch of 16 or more takes the socket out of epoll while it is handled (DETACH_MIN in udp_batch.c).
        assert.ok(Math.max(...counts) >= 16, `batch sizes ${counts.join(',')}`);
        assert.ok(counts.every((n) => n >= 1 && n <= 32));
        for (const [c, client] of clients.entries()) {
          const addrLength = v6 ? 16 : 4;
          const payloads = client.received.map((r) => {
            assert.deepEqual([...r.subarray(0, addrLength)], loopback, 'source address in inAddr');
            return text(r.subarray(addrLength).reverse());
          });
          const expected = Array.from({ length: perClient }, (_, i) => `c${c}-${i}`);
          assert.deepEqual(payloads.sort(), expected.sort(), `client ${c} got the replies to its own datagrams`);
        }
        // Back in epoll after the burst: a lone datagram, sent once the socket has gone idle, is answered.
        await new Promise((resolve) => setTimeout(resolve, 50));
        await clients[0].send('late', socket.port, host);
        await clients[0].waitFor(perClient + 1);
        assert.equal(text(clients[0].received[perClient].subarray(v6 ? 16 : 4).reverse()), 'late');
      } finally {
        socket.close();
        for (const client of clients) client.close();
      }
    });

    test('outLength 0 (or out of range) sends nothing; outLength is zeroed before each batch', {
      timeout: TIMEOUT,
    }, async (t) => {
      const native = addon(t);
      if (!native) return;
      const b = buffers(8, 32, 16);
      const socket = native.open(options(host, { batch: 8, slotSize: 32, outSlotSize: 16 }), b);
      const client = await Client.open(host);
      const stale: number[] = [];
      try {
        socket.start((count) => {
          for (let i = 0; i < count; i++) {
            stale.push(b.outLength[i]);
            const msg = text(b.inData.subarray(i * 32, i * 32 + b.inLength[i]));
            if (msg.startsWith('Y')) {
              b.outData.set(Buffer.from(msg), i * 16);
              b.outLength[i] = msg.length;
            } else if (msg.startsWith('B')) {
              b.outLength[i] = 17; // more than outSlotSize: ignored
            } else if (msg.startsWith('M')) {
              b.outLength[i] = -5;
            }
            // 'N': left at 0
          }
        });
        for (const m of ['N1', 'Y1', 'B1', 'N2', 'M1', 'Y2']) await client.send(m, socket.port, host);
        await client.waitFor(2);
        // Replies within a batch go out in slot order and loopback keeps order: once 'Ylast' is back, nothing else
        // can still be on its way.
        await client.send('Ylast', socket.port, host);
        await client.waitFor(3);
        assert.deepEqual(client.received.map(text), ['Y1', 'Y2', 'Ylast']);
        assert.ok(
          stale.every((n) => n === 0),
          `outLength seen by onBatch: ${stale.join(',')}`,
        );
      } finally {
        socket.close();
        client.close();
      }
    });

    test('a datagram bigger than slotSize has length -1; one that fits has its length', {
      timeout: TIMEOUT,
    }, async (t) => {
      const native = addon(t);
      if (!native) return;
      const b = buffers(4, 64, 8);
      const socket = native.open(options(host, { batch: 4, slotSize: 64, outSlotSize: 8 }), b);
      const client = await Client.open(host);
      const lengths: number[] = [];
      try {
        socket.start((count) => {
          for (let i = 0; i < count; i++) {
            lengths.push(b.inLength[i]);
            b.outData[i * 8] = 0x21;
            b.outLength[i] = 1;
          }
        });
        await client.send(new Uint8Array(100).fill(1), socket.port, host);
        await client.send(new Uint8Array(64).fill(2), socket.port, host);
        await client.send(new Uint8Array(0), socket.port, host);
        await client.waitFor(3);
        assert.deepEqual(lengths, [-1, 64, 0]);
        assert.deepEqual(
          [...b.inData.subarray(0, 64)],
          new Array(64).fill(1),
          'the truncated datagram keeps its start',
        );
      } finally {
        socket.close();
        client.close();
      }
    });

    test('reusePort lets two sockets share a port; without it the second bind is EADDRINUSE', (t) => {
      const native = addon(t);
      if (!native) return;
      const a = native.open(options(host, { reusePort: true }), buffers(32, 256, 256));
      const sockets: BatchSocket[] = [a];
      try {
        const b = native.open(options(host, { reusePort: true, port: a.port }), buffers(32, 256, 256));
        sockets.push(b);
        assert.equal(b.port, a.port);
        const c = native.open(options(host), buffers(32, 256, 256));
        sockets.push(c);
        assert.throws(
          () => native.open(options(host, { port: c.port }), buffers(32, 256, 256)),
          (err: NodeJS.ErrnoException) => {
            assert.equal(err.code, 'EADDRINUSE');
            assert.equal(err.syscall, 'bind');
            assert.equal(err.message, `bind EADDRINUSE ${host}:${c.port}`);
            return true;
          },
        );
        // A reusePort socket cannot join a port bound without it either.
        assert.throws(() => native.open(options(host, { port: c.port, reusePort: true }), buffers(32, 256, 256)), {
          code: 'EADDRINUSE',
        });
      } finally {
        for (const s of sockets) s.close();
      }
    });

    test("randomSpread spreads one client's datagrams over the sockets of a port; the source hash picks one", {
      timeout: TIMEOUT,
    }, async (t) => {
      const native = addon(t);
      if (!native) return;
      /** Sends `count` datagrams from one client to two sockets sharing a port; how many each socket got. */
      const share = async (randomSpread: number, count: number): Promise<number[]> => {
        const a = native.open(options(host, { reusePort: true, randomSpread }), buffers(32, 256, 256));
        const b = native.open(options(host, { reusePort: true, randomSpread, port: a.port }), buffers(32, 256, 256));
        const client = await Client.open(host);
        const got = [0, 0];
        try {
          let done = () => {};
          const all = new Promise<void>((resolve) => {
            done = resolve;
          });
          for (const [k, s] of [a, b].entries()) {
            s.start((n) => {
              got[k] += n;
              if (got[0] + got[1] === count) done();
            });
          }
          for (let i = 0; i < count; i++) await client.send(`d${i}`, a.port, host);
          await all;
          return got;
        } finally {
          client.close();
          a.close();
          b.close();
        }
      };
      const hashed = await share(0, 100);
      assert.deepEqual([...hashed].sort(), [0, 100], `by hash: ${hashed}`);
      // Binomial(400, 1/2): below 100 on either side has a probability under 1e-22.
      const spread = await share(2, 400);
      assert.ok(Math.min(...spread) >= 100, `at random: ${spread}`);
    });

    test('close() is idempotent, releases the port, and start() after it throws', (t) => {
      const native = addon(t);
      if (!native) return;
      const a = native.open(options(host), buffers(32, 256, 256));
      const port = a.port;
      a.start(() => {});
      a.close();
      a.close();
      assert.throws(() => a.start(() => {}), /after close/);
      const b = native.open(options(host, { port }), buffers(32, 256, 256));
      assert.equal(b.port, port);
      b.close();
      // Never started: close() still closes the fd.
      const c = native.open(options(host, { port }), buffers(32, 256, 256));
      c.close();
    });
  });
}

describe('native UDP: errors and lifecycle', () => {
  test('a bad address, a wrong family, bad sizes and mismatched buffers throw', (t) => {
    const native = addon(t);
    if (!native) return;
    const b = buffers(32, 256, 256);
    assert.throws(() => native.open(options('not-an-ip'), b), { code: 'EINVAL', syscall: 'bind' });
    assert.throws(() => native.open(options('::1', { ipv6: false }), b), { code: 'EINVAL' });
    assert.throws(() => native.open(options('127.0.0.1', { ipv6: true }), b), { code: 'EINVAL' });
    assert.throws(() => native.open(options('127.0.0.1', { batch: 0 }), b), RangeError);
    assert.throws(() => native.open(options('127.0.0.1', { port: 70000 }), b), RangeError);
    assert.throws(() => native.open(options('127.0.0.1', { reusePort: true, randomSpread: 1025 }), b), RangeError);
    assert.throws(() => native.open(options('127.0.0.1', { batch: 64 }), b), TypeError);
    assert.throws(() => native.open(options('127.0.0.1', { slotSize: 512 }), b), TypeError);
    assert.throws(() => native.open(options('127.0.0.1'), { ...b, inLength: new Uint32Array(32) as never }), TypeError);
    assert.throws(() => native.open(options('127.0.0.1'), { ...b, outData: undefined as never }), TypeError);
    const s = native.open(options('127.0.0.1'), b);
    try {
      assert.throws(() => s.start(undefined as never), TypeError);
      s.start(() => {});
      assert.throws(() => s.start(() => {}), /twice/);
      const { close } = s;
      assert.throws(() => close(), TypeError, 'a detached method has no socket');
    } finally {
      s.close();
    }
  });

  test('close() from inside onBatch: that batch gets no replies and the port is free', {
    timeout: TIMEOUT,
  }, async (t) => {
    const native = addon(t);
    if (!native) return;
    const b = buffers(8, 64, 64);
    const socket = native.open(options('127.0.0.1', { batch: 8, slotSize: 64, outSlotSize: 64 }), b);
    const client = await Client.open('127.0.0.1');
    try {
      let calls = 0;
      const closed = new Promise<void>((resolve) => {
        socket.start((count) => {
          calls++;
          for (let i = 0; i < count; i++) b.outLength[i] = 1;
          socket.close();
          socket.close();
          resolve();
        });
      });
      await client.send('x', socket.port, '127.0.0.1');
      await closed;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(calls, 1);
      assert.equal(client.received.length, 0);
      native.open(options('127.0.0.1', { port: socket.port }), buffers(32, 256, 256)).close();
    } finally {
      client.close();
    }
  });

  test('in a worker thread: open, start, echo, and exit without close() releases the port', {
    timeout: TIMEOUT,
  }, async (t) => {
    const native = addon(t);
    if (!native) return;
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(ADDON_MODULE)}).then(({ nativeUdp, nativeUdpError }) => {
        if (!nativeUdp) throw new Error('addon not loaded in the worker: ' + nativeUdpError);
        const b = {
          inData: new Uint8Array(8 * 64), inLength: new Int32Array(8), inAddr: new Uint8Array(8 * 16),
          outData: new Uint8Array(8 * 64), outLength: new Int32Array(8),
        };
        const s = nativeUdp.open({ ipv6: false, address: '127.0.0.1', port: 0, reusePort: false, randomSpread: 0,
          recvBufferBytes: 0, batch: 8, slotSize: 64, outSlotSize: 64 }, b);
        s.start((n) => {
          for (let i = 0; i < n; i++) {
            b.outData.set(b.inData.subarray(i * 64, i * 64 + b.inLength[i]), i * 64);
            b.outLength[i] = b.inLength[i];
          }
        });
        parentPort.on('message', (m) => { if (m === 'exit') process.exit(0); });
        parentPort.postMessage(s.port);
      });
    `;
    const worker = new Worker(code, { eval: true });
    const client = await Client.open('127.0.0.1');
    try {
      const [port] = (await once(worker, 'message')) as [number];
      await client.send('from-main', port, '127.0.0.1');
      await client.waitFor(1);
      assert.equal(text(client.received[0]), 'from-main');
      worker.postMessage('exit');
      const [exitCode] = await once(worker, 'exit');
      assert.equal(exitCode, 0);
      // The worker's env cleanup closed the socket.
      native.open(options('127.0.0.1', { port }), buffers(32, 256, 256)).close();
    } finally {
      client.close();
      await worker.terminate();
    }
  });

  test('a throw from onBatch is an uncaught exception (here: the worker fails with it)', {
    timeout: TIMEOUT,
  }, async (t) => {
    const native = addon(t);
    if (!native) return;
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(ADDON_MODULE)}).then(({ nativeUdp }) => {
        const b = {
          inData: new Uint8Array(64), inLength: new Int32Array(1), inAddr: new Uint8Array(16),
          outData: new Uint8Array(64), outLength: new Int32Array(1),
        };
        const s = nativeUdp.open({ ipv6: true, address: '::1', port: 0, reusePort: false, randomSpread: 0,
          recvBufferBytes: 0, batch: 1, slotSize: 64, outSlotSize: 64 }, b);
        s.start(() => { b.outLength[0] = 1; throw new Error('boom from onBatch'); });
        parentPort.postMessage(s.port);
      });
    `;
    const worker = new Worker(code, { eval: true });
    const client = await Client.open('::1');
    try {
      const errored = once(worker, 'error');
      const [port] = (await once(worker, 'message')) as [number];
      await client.send('x', port, '::1');
      const [err] = (await errored) as [Error];
      assert.equal(err.message, 'boom from onBatch');
      await once(worker, 'exit');
      assert.equal(client.received.length, 0, 'no reply from a batch whose handler threw');
      native.open(options('::1', { port }), buffers(32, 256, 256)).close();
    } finally {
      client.close();
      await worker.terminate();
    }
  });
});
