// The native TCP addon (native/tcp_batch.c) on real loopback sockets, driven by a line protocol of its own (one
// request per '\n'-terminated line) so that what is tested is the addon, not HTTP: batches with ids and addresses,
// input handed again until consumed, input beyond the buffer, replies in order, close and hold flags, send() to held and to gone
// connections, the sweep's three timeouts, close(), worker exit, argument errors. Skipped when the addon is not
// built, except under CI=true.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  FLAG_CLOSE,
  FLAG_HOLD,
  type NativeTcp,
  nativeTcp,
  nativeTcpError,
  type TcpBuffers,
  type TcpListenOptions,
  type TcpServer,
} from '../../src/net/native-tcp-addon.ts';

const ADDON_MODULE = new URL('../../src/net/native-tcp-addon.ts', import.meta.url).href;
const TIMEOUT = 10_000;
const BATCH = 8;
const OUT_SLOT = 1024;
const ID_INDEX_MASK = (1 << 20) - 1;

function addon(t: TestContext): NativeTcp | null {
  if (nativeTcp) return nativeTcp;
  if (process.env.CI) assert.fail(`native TCP addon did not load under CI: ${nativeTcpError}`);
  t.skip(`native TCP addon not loaded: ${nativeTcpError}`);
  return null;
}

function buffers(native: NativeTcp, batch = BATCH, outSlot = OUT_SLOT): TcpBuffers {
  return {
    inData: new Uint8Array(batch * native.inSlotSize),
    inLength: new Int32Array(batch),
    inConn: new Int32Array(batch),
    inAddr: new Uint8Array(batch * 16),
    outData: new Uint8Array(batch * outSlot),
    outLength: new Int32Array(batch),
    outConsumed: new Int32Array(batch),
    outFlags: new Int32Array(batch),
  };
}

function options(host: string, over: Partial<TcpListenOptions> = {}): TcpListenOptions {
  return {
    ipv6: host.includes(':'),
    address: host,
    port: 0,
    reusePort: false,
    batch: BATCH,
    outSlotSize: OUT_SLOT,
    maxConnections: 0,
    ...over,
  };
}

/** What a connection's handing-over looked like to JS. */
interface Seen {
  id: number;
  input: string;
  addr: number[];
}

/** How the line server answers one line: the reply, and the flags after it (a held line gets no reply now). */
type Answer = { reply: string; flags: number };

/**
 * A server of the line protocol: every complete line is answered by `answer` (default: the line and '!'); a partial
 * line is left unconsumed. Records every handing-over in `seen`.
 */
class LineServer {
  readonly server: TcpServer;
  readonly seen: Seen[] = [];

  constructor(
    native: NativeTcp,
    host: string,
    answer: (line: string) => Answer = (line) => ({ reply: `${line}!`, flags: 0 }),
  ) {
    const b = buffers(native);
    const inSlot = native.inSlotSize;
    const addrLength = host.includes(':') ? 16 : 4;
    this.server = native.listen(options(host), b);
    this.server.start((count) => {
      for (let i = 0; i < count; i++) {
        const input = Buffer.from(b.inData.buffer, i * inSlot, b.inLength[i]).toString('latin1');
        this.seen.push({ id: b.inConn[i], input, addr: [...b.inAddr.subarray(i * 16, i * 16 + addrLength)] });
        let consumed = 0;
        let out = '';
        let flags = 0;
        for (let nl = input.indexOf('\n'); nl >= 0 && flags === 0; nl = input.indexOf('\n', consumed)) {
          const a = answer(input.slice(consumed, nl));
          consumed = nl + 1;
          out += a.reply;
          flags = a.flags;
        }
        b.outData.set(Buffer.from(out, 'latin1'), i * OUT_SLOT);
        b.outLength[i] = out.length;
        b.outConsumed[i] = consumed;
        b.outFlags[i] = flags;
      }
    });
  }

  get port(): number {
    return this.server.port;
  }

  /** The id under which the connection that sent `line` was handed over (the last time). */
  idOf(line: string): number {
    const s = this.seen.findLast((x) => x.input.includes(line));
    assert.ok(s, `no connection sent ${JSON.stringify(line)}`);
    return s.id;
  }
}

/** A client that collects what it receives. */
class Client {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.data = Buffer.concat([this.data, d]);
    });
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => {});
  }

  static async connect(host: string, port: number): Promise<Client> {
    const socket = net.connect({ host, port });
    await once(socket, 'connect');
    return new Client(socket);
  }

  get text(): string {
    return this.data.toString('latin1');
  }

  write(s: string): void {
    this.socket.write(s);
  }

  async waitFor(what: string | ((c: Client) => boolean)): Promise<void> {
    const done = typeof what === 'string' ? () => this.text === what : () => what(this);
    for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(done(), `client got ${JSON.stringify(this.text.slice(0, 200))}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const host of ['127.0.0.1', '::1']) {
  test(`over ${host}: a request comes with its connection's id and address, the reply goes back, the next comes under the same id`, {
    timeout: TIMEOUT,
  }, async (t) => {
    const native = addon(t);
    if (!native) return;
    const s = new LineServer(native, host);
    const c = await Client.connect(host, s.port);
    try {
      c.write('one\n');
      await c.waitFor('one!');
      c.write('two\n');
      await c.waitFor('one!two!');
      assert.equal(s.seen.length, 2);
      assert.equal(s.seen[0].id, s.seen[1].id);
      assert.deepEqual(s.seen[0].addr, host.includes(':') ? [...new Uint8Array(15), 1] : [127, 0, 0, 1]);
    } finally {
      c.socket.destroy();
      s.server.close();
    }
  });
}

test('unconsumed input is handed again with what follows; pipelined replies keep their order', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1');
  const c = await Client.connect('127.0.0.1', s.port);
  try {
    c.write('one\ntw');
    await c.waitFor('one!');
    c.write('o\nthree\nfour\n');
    await c.waitFor('one!two!three!four!');
    assert.equal(s.seen.at(-1)?.input, 'two\nthree\nfour\n');
  } finally {
    c.socket.destroy();
    s.server.close();
  }
});

test('input beyond the 8 KiB buffer, sent at once, is all answered: reading resumes when the buffer has room', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  // 2,000 lines of 100 bytes: the buffer fills again and again with bytes still waiting in the socket, and with
  // edge-triggered epoll only watching input again when there is room reports them.
  const s = new LineServer(native, '127.0.0.1', () => ({ reply: '.', flags: 0 }));
  const c = await Client.connect('127.0.0.1', s.port);
  try {
    const lines = 2000;
    c.write(`${'x'.repeat(99)}\n`.repeat(lines));
    await c.waitFor((x) => x.data.length >= lines);
    assert.equal(c.text, '.'.repeat(lines));
    assert.ok(
      s.seen.some((x) => x.input.length === native.inSlotSize),
      'a handing-over came with a full buffer',
    );
  } finally {
    c.socket.destroy();
    s.server.close();
  }
});

test('FLAG_CLOSE: the reply is written, then the connection is closed', { timeout: TIMEOUT }, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1', (line) => ({
    reply: `${line}!`,
    flags: line === 'bye' ? FLAG_CLOSE : 0,
  }));
  const c = await Client.connect('127.0.0.1', s.port);
  try {
    c.write('hi\nbye\nignored\n');
    await c.closed;
    assert.equal(c.text, 'hi!bye!');
  } finally {
    s.server.close();
  }
});

test('FLAG_HOLD: nothing more is handed until send(); a 4 MB answer arrives whole, then the pipelined rest', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1', (line) =>
    line === 'hold' ? { reply: '', flags: FLAG_HOLD } : { reply: `${line}!`, flags: 0 },
  );
  const c = await Client.connect('127.0.0.1', s.port);
  try {
    c.write('hold\nnext\n');
    await sleep(100);
    assert.equal(s.seen.length, 1, 'the connection is not handed while held');
    assert.equal(c.text, '');
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    assert.equal(s.server.send(s.idOf('hold'), big, false), true);
    await c.waitFor((x) => x.data.length >= big.length + 5);
    assert.ok(c.data.subarray(0, big.length).equals(big), 'the held answer arrives intact');
    assert.equal(c.data.subarray(big.length).toString(), 'next!');
  } finally {
    c.socket.destroy();
    s.server.close();
  }
});

test('send() to a connection that is gone returns false and never reaches a newer one in the same slot', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1', (line) => ({
    reply: line === 'hold' ? '' : `${line}!`,
    flags: line === 'bye' ? FLAG_CLOSE : line === 'hold' ? FLAG_HOLD : 0,
  }));
  const a = await Client.connect('127.0.0.1', s.port);
  a.write('bye\n');
  await a.closed;
  const b = await Client.connect('127.0.0.1', s.port);
  try {
    b.write('hold\n');
    await sleep(50);
    const gone = s.idOf('bye');
    const held = s.idOf('hold');
    assert.equal(held & ID_INDEX_MASK, gone & ID_INDEX_MASK, 'the new connection took the freed slot');
    assert.notEqual(held, gone);
    assert.equal(s.server.send(gone, Buffer.from('wrong'), false), false);
    assert.equal(s.server.send(held, Buffer.from('right'), true), true);
    await b.closed;
    assert.equal(b.text, 'right');
    assert.equal(s.server.send(held, Buffer.from('again'), false), false, 'closed after the answer');
  } finally {
    b.socket.destroy();
    s.server.close();
  }
});

test('send() inside onBatch, or a microtask it queued, throws instead of overtaking the batch', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const errors: string[] = [];
  const s = new LineServer(native, '127.0.0.1', (line) => {
    if (line !== 'hold') return { reply: `${line}!`, flags: 0 };
    const id = s.idOf(line);
    const attempt = () => {
      try {
        s.server.send(id, Buffer.from('early'), false);
      } catch (err) {
        errors.push((err as Error).message);
      }
    };
    attempt();
    queueMicrotask(attempt);
    return { reply: '', flags: FLAG_HOLD };
  });
  const c = await Client.connect('127.0.0.1', s.port);
  try {
    c.write('hold\nnext\n');
    await sleep(50);
    assert.equal(errors.length, 2);
    for (const e of errors) assert.match(e, /inside onBatch/);
    assert.equal(s.server.send(s.idOf('hold'), Buffer.from('late!'), false), true);
    await c.waitFor('late!next!');
  } finally {
    c.socket.destroy();
    s.server.close();
  }
});

test('sweep closes a late head, an idle connection and one not reading its reply; held and fresh ones stay', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1', (line) =>
    line.startsWith('hold') ? { reply: '', flags: FLAG_HOLD } : { reply: `${line}!`, flags: 0 },
  );
  const partial = await Client.connect('127.0.0.1', s.port);
  const idle = await Client.connect('127.0.0.1', s.port);
  const held = await Client.connect('127.0.0.1', s.port);
  const stalled = await Client.connect('127.0.0.1', s.port);
  try {
    partial.write('no end of line');
    idle.write('ping\n');
    held.write('hold-1\n');
    stalled.socket.pause();
    stalled.write('hold-2\n');
    await idle.waitFor('ping!');
    await sleep(50);
    // More than loopback's socket buffers take while the client does not read.
    assert.equal(s.server.send(s.idOf('hold-2'), Buffer.alloc(64 << 20), false), true);
    await sleep(300);
    assert.equal(s.server.sweep(100, 60_000), 1, 'only the late head');
    await partial.closed;
    const fresh = await Client.connect('127.0.0.1', s.port);
    assert.equal(s.server.sweep(60_000, 150), 2, 'the idle one and the stalled one');
    await idle.closed;
    // A paused socket does not see the end: read what got through, then the close.
    stalled.socket.resume();
    await stalled.closed;
    assert.ok(stalled.data.length < 64 << 20, 'the rest of the reply was dropped with the connection');
    assert.equal(s.server.sweep(0, 0) >= 0, true);
    assert.equal(s.server.send(s.idOf('hold-1'), Buffer.from('still here'), false), true, 'held ones are spared');
    await held.waitFor('still here');
    fresh.write('x\n');
    await fresh.waitFor('x!');
    fresh.socket.destroy();
  } finally {
    for (const c of [partial, idle, held, stalled]) c.socket.destroy();
    s.server.close();
  }
});

test('close() closes every connection and frees the port; start() after it throws, send() returns false', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const s = new LineServer(native, '127.0.0.1');
  const c = await Client.connect('127.0.0.1', s.port);
  c.write('one\n');
  await c.waitFor('one!');
  const id = s.idOf('one');
  s.server.close();
  s.server.close();
  await c.closed;
  assert.throws(() => s.server.start(() => {}), /after close/);
  assert.equal(s.server.send(id, Buffer.from('late'), false), false);
  assert.equal(s.server.sweep(0, 0), 0);
  native.listen(options('127.0.0.1', { port: s.port }), buffers(native)).close();
});

test('in a worker thread: exit without close() closes the connections and frees the port', {
  timeout: TIMEOUT,
}, async (t) => {
  const native = addon(t);
  if (!native) return;
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(ADDON_MODULE)}).then(({ nativeTcp }) => {
      const n = 4, inSlot = nativeTcp.inSlotSize;
      const b = {
        inData: new Uint8Array(n * inSlot), inLength: new Int32Array(n), inConn: new Int32Array(n),
        inAddr: new Uint8Array(n * 16), outData: new Uint8Array(n * 64), outLength: new Int32Array(n),
        outConsumed: new Int32Array(n), outFlags: new Int32Array(n),
      };
      const s = nativeTcp.listen({ ipv6: false, address: '127.0.0.1', port: 0, reusePort: false, batch: n,
        outSlotSize: 64, maxConnections: 0 }, b);
      s.start((count) => {
        for (let i = 0; i < count; i++) {
          b.outData.set(b.inData.subarray(i * inSlot, i * inSlot + b.inLength[i]), i * 64);
          b.outLength[i] = b.outConsumed[i] = b.inLength[i];
        }
      });
      parentPort.on('message', (m) => { if (m === 'exit') process.exit(0); });
      parentPort.postMessage(s.port);
    });
  `;
  const worker = new Worker(code, { eval: true });
  try {
    const [port] = (await once(worker, 'message')) as [number];
    const c = await Client.connect('127.0.0.1', port);
    c.write('echo');
    await c.waitFor('echo');
    worker.postMessage('exit');
    assert.deepEqual(await once(worker, 'exit'), [0]);
    await c.closed;
    native.listen(options('127.0.0.1', { port }), buffers(native)).close();
  } finally {
    await worker.terminate();
  }
});

test("bad arguments: TypeError, RangeError, and bind errors shaped like Node's", (t) => {
  const native = addon(t);
  if (!native) return;
  const b = buffers(native);
  assert.throws(() => native.listen(options('127.0.0.1', { batch: 0 }), b), RangeError);
  assert.throws(() => native.listen(options('127.0.0.1', { batch: BATCH * 2 }), b), TypeError);
  assert.throws(
    () => native.listen(options('127.0.0.1'), { ...b, inConn: new Uint32Array(BATCH) as never }),
    TypeError,
  );
  assert.throws(() => native.listen(options('not-an-ip'), b), { code: 'EINVAL', syscall: 'bind' });
  const s = native.listen(options('127.0.0.1'), b);
  try {
    assert.throws(
      () => native.listen(options('127.0.0.1', { port: s.port }), buffers(native)),
      (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.message, `bind EADDRINUSE 127.0.0.1:${s.port}`);
        return true;
      },
    );
    assert.throws(() => s.start(undefined as never), TypeError);
    s.start(() => {});
    assert.throws(() => s.start(() => {}), /twice/);
    assert.throws(() => s.send(1, 'text' as never, false), TypeError);
    assert.throws(() => s.send('1' as never, new Uint8Array(1), false), TypeError);
    assert.throws(() => s.send(1, new Uint8Array(1), undefined as never), TypeError);
    assert.equal(s.send(12345, new Uint8Array(1), false), false, 'no such connection');
    assert.throws(() => s.sweep(-1, 0), RangeError);
    assert.throws(() => s.sweep(undefined as never, 0), TypeError);
    const { close } = s;
    assert.throws(() => close(), TypeError, 'a detached method has no server');
  } finally {
    s.close();
  }
});
