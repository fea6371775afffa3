// The systemd notifier (src/cli/systemd.ts) against the real `systemd-notify` binary and a fake service manager: a
// Unix datagram socket bound by python3 (Node cannot bind one) in a temporary directory, passed as $NOTIFY_SOCKET.
//
// Like systemd, the fake reads each datagram with its ancillary data and closes the file descriptors it carries:
// systemd-notify sends a pipe's write end with BARRIER=1 and waits until the receiver closes it. It also stamps each
// datagram with CLOCK_MONOTONIC, the clock of MONOTONIC_USEC.
//
// Needs systemd-notify (Debian's `systemd` package, which .ci/run installs) and python3. Without them the tests are
// skipped, or fail when CI is set.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createNotifier } from '../../src/cli/systemd.ts';
import { onPath } from '../helpers/commands.ts';

const MISSING = ['systemd-notify', 'python3'].filter((binary) => !onPath(binary));
const missingReason = `needs ${MISSING.join(' and ')} on PATH (apt-get install systemd python3)`;
if (MISSING.length > 0 && process.env.CI) {
  test('systemd-notify and python3 are installed (CI)', () => assert.fail(missingReason));
}
const skip = MISSING.length > 0 ? missingReason : false;

const FAKE_MANAGER = `
import array, json, os, socket, struct, sys, time
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
hold = sys.argv[2] == 'hold'
held = []
print(json.dumps({'listening': True}), flush=True)
while True:
    data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(4 * 16) + socket.CMSG_SPACE(12))
    fds = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array('i')
            a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
            fds.extend(a)
    if hold:
        held.extend(fds)
    else:
        for fd in fds:
            os.close(fd)
    monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    print(json.dumps({'text': data.decode(), 'fds': len(fds), 'monotonicUsec': monotonic_usec}), flush=True)
`;

interface Datagram {
  text: string;
  /** File descriptors that came with it (SCM_RIGHTS). */
  fds: number;
  /** CLOCK_MONOTONIC when it was read, µs. */
  monotonicUsec: number;
}

/** A fake service manager's notification socket. `hold`: keep the barrier fds open, like a manager that hangs. */
class FakeManager {
  readonly socketPath: string;
  readonly datagrams: Datagram[] = [];
  private readonly child: ChildProcess;
  private readonly arrived = new Set<() => void>();

  private constructor(socketPath: string, child: ChildProcess) {
    this.socketPath = socketPath;
    this.child = child;
  }

  static async start(dir: string, mode: 'close' | 'hold' = 'close'): Promise<FakeManager> {
    const socketPath = path.join(dir, 'notify');
    const child = spawn('python3', ['-c', FAKE_MANAGER, socketPath, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const manager = new FakeManager(socketPath, child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`fake manager exited with ${code}`)));
      lines.once('line', () => resolve());
    });
    lines.on('line', (line) => {
      manager.datagrams.push(JSON.parse(line));
      for (const wake of manager.arrived) wake();
    });
    return manager;
  }

  /** The notifications, without systemd-notify's BARRIER=1 datagrams. */
  get texts(): string[] {
    return this.datagrams.filter((d) => d.text !== 'BARRIER=1').map((d) => d.text);
  }

  /** Waits until `done()` holds, re-checking as datagrams arrive; fails after `ms`. */
  async until(done: () => boolean, ms = 5000): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.arrived.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.arrived.delete(wake);
        reject(new Error(`timed out; received ${JSON.stringify(this.datagrams)}`));
      }, ms);
      this.arrived.add(wake);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
  }
}

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
}
const WARN = 40;
const DEBUG = 20;

function capture() {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

type TestContext = { after: (fn: () => Promise<void>) => void };

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'swarmd-notify-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startManager(t: TestContext, mode: 'close' | 'hold' = 'close'): Promise<FakeManager> {
  const manager = await FakeManager.start(await tempDir(t), mode);
  t.after(() => manager.stop());
  return manager;
}

/** This process's environment with NOTIFY_SOCKET (and any other `extra` variable) set; no watchdog unless asked. */
function envFor(manager: FakeManager, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  return Object.assign(env, { NOTIFY_SOCKET: manager.socketPath }, extra);
}

test('ready: READY=1 and STATUS= in one datagram, resolved once the manager has read it', { skip }, async (t) => {
  const manager = await startManager(t);
  const { log, lines } = capture();
  const notifier = createNotifier(log, { env: envFor(manager) });
  const started = performance.now();
  await notifier.ready('serving 3 listeners');
  // Far below the 5 s timeout: the barrier was released by the manager, not given up on.
  assert.ok(performance.now() - started < 3000);
  await manager.until(() => manager.datagrams.length >= 2);
  assert.deepEqual(manager.texts, ['READY=1\nSTATUS=serving 3 listeners']);
  const barrier = manager.datagrams.find((d) => d.text === 'BARRIER=1');
  assert.equal(barrier?.fds, 1, 'systemd-notify waits on a barrier fd');
  assert.deepEqual(lines, []);
});

test('reloading: RELOADING=1, MONOTONIC_USEC on CLOCK_MONOTONIC; reloaded: READY=1', { skip }, async (t) => {
  const manager = await startManager(t);
  const { log, lines } = capture();
  const notifier = createNotifier(log, { env: envFor(manager) });
  const before = process.hrtime.bigint() / 1000n;
  await notifier.reloading();
  const after = process.hrtime.bigint() / 1000n;
  await notifier.reloaded('reloaded: certificate and access lists');
  await manager.until(() => manager.texts.length >= 2);

  const [reloading, reloaded] = manager.texts;
  const match = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading);
  assert.ok(match, reloading);
  const stamp = BigInt(match[1]);
  assert.ok(before <= stamp && stamp <= after, `${before} <= ${stamp} <= ${after}`);
  // The manager's own CLOCK_MONOTONIC reading agrees: the stamp is not on some other clock.
  const received = BigInt(manager.datagrams.find((d) => d.text === reloading)!.monotonicUsec);
  assert.ok(stamp <= received && received - stamp < 5_000_000n, `${stamp} then ${received}`);
  assert.equal(reloaded, 'READY=1\nSTATUS=reloaded: certificate and access lists');
  assert.deepEqual(lines, []);
});

test('messages arrive in call order, one systemd-notify at a time', { skip }, async (t) => {
  const manager = await startManager(t);
  const { log } = capture();
  const notifier = createNotifier(log, { env: envFor(manager) });
  const calls = [notifier.ready('up')];
  for (let i = 1; i <= 6; i++) calls.push(notifier.status(`step ${i}`));
  calls.push(notifier.stopping());
  await Promise.all(calls);
  // The last call resolves when its barrier's fd is closed, which the manager does before it reports the barrier.
  await manager.until(() => manager.datagrams.length >= 16);
  const steps = [1, 2, 3, 4, 5, 6].map((i) => `STATUS=step ${i}`);
  assert.deepEqual(manager.texts, ['READY=1\nSTATUS=up', ...steps, 'STOPPING=1']);
  // Each message's barrier comes before the next message: the children did not overlap.
  const order = manager.datagrams.map((d) => (d.text === 'BARRIER=1' ? 'B' : 'M')).join('');
  assert.equal(order, 'MB'.repeat(8));
});

test('a status text stays one STATUS= assignment', { skip }, async (t) => {
  const manager = await startManager(t);
  const notifier = createNotifier(capture().log, { env: envFor(manager) });
  await notifier.status('peers: 3\nREADY=1\ttorrents: 2');
  await manager.until(() => manager.texts.length >= 1);
  assert.deepEqual(manager.texts, ['STATUS=peers: 3 READY=1 torrents: 2']);
});

test('without NOTIFY_SOCKET every call is a no-op: nothing spawned, nothing logged', async (t) => {
  const dir = await tempDir(t);
  const marker = path.join(dir, 'spawned');
  const command = path.join(dir, 'fake-systemd-notify');
  await writeFile(command, `#!/bin/sh\necho "$@" >> '${marker}'\n`);
  await chmod(command, 0o755);
  const { log, lines } = capture();
  const watchdog = { WATCHDOG_USEC: '20000', WATCHDOG_PID: String(process.pid) };
  for (const env of [{ ...watchdog }, { ...watchdog, NOTIFY_SOCKET: '' }]) {
    const notifier = createNotifier(log, { env, command });
    await notifier.ready('up');
    await notifier.reloading();
    await notifier.reloaded('up');
    await notifier.status('text');
    await sleep(100); // five watchdog periods
    await notifier.stopping();
  }
  await assert.rejects(readFile(marker), { code: 'ENOENT' });
  assert.deepEqual(lines, []);

  // The same command does run once NOTIFY_SOCKET is set, so the check above could have failed.
  await createNotifier(log, { env: { NOTIFY_SOCKET: '/nonexistent' }, command }).ready('up');
  assert.equal(await readFile(marker, 'utf8'), 'READY=1 STATUS=up\n');
});

test('failures never throw: the first is logged at warn, later ones at debug', { skip }, async (t) => {
  const dir = await tempDir(t);
  const { log, lines } = capture();
  // No manager listens here: systemd-notify itself fails.
  const notifier = createNotifier(log, { env: { ...process.env, NOTIFY_SOCKET: path.join(dir, 'absent') } });
  await notifier.ready('up');
  await notifier.status('still up');
  assert.deepEqual(
    lines.map((l) => l.level),
    [WARN, DEBUG],
  );
  assert.match(lines[0].reason ?? '', /No such file or directory/);

  // No systemd-notify binary at all.
  const missing = capture();
  const command = path.join(dir, 'no-such-systemd-notify');
  await createNotifier(missing.log, { env: { NOTIFY_SOCKET: '/run/systemd/notify' }, command }).ready('up');
  assert.equal(missing.lines.length, 1);
  assert.equal(missing.lines[0].level, WARN);
  assert.match(missing.lines[0].reason ?? '', /ENOENT/);
});

test('a manager that never releases the barrier holds each call for timeoutMs at most', { skip }, async (t) => {
  const manager = await startManager(t, 'hold');
  const { log, lines } = capture();
  const notifier = createNotifier(log, { env: envFor(manager), timeoutMs: 300 });
  const started = performance.now();
  // Five queued messages take 5 × 300 ms to run through, but no call's promise waits more than its own 300 ms.
  const statuses = ['busy 1', 'busy 2', 'busy 3'];
  await Promise.all([notifier.ready('up'), ...statuses.map((s) => notifier.status(s)), notifier.stopping()]);
  const waited = performance.now() - started;
  assert.ok(waited >= 250 && waited < 1200, `waited ${waited} ms`);
  await manager.until(() => manager.texts.length >= 5);
  assert.deepEqual(manager.texts, ['READY=1\nSTATUS=up', ...statuses.map((s) => `STATUS=${s}`), 'STOPPING=1']);
  assert.equal(lines[0].level, WARN);
  assert.equal(lines[0].reason, 'no answer within 300 ms');
});

test('WATCHDOG=1 every WATCHDOG_USEC/2 until stopping, only in the WATCHDOG_PID process', { skip }, async (t) => {
  const manager = await startManager(t);
  const notifier = createNotifier(capture().log, {
    env: envFor(manager, { WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) }),
  });
  const started = performance.now();
  await manager.until(() => manager.texts.filter((m) => m === 'WATCHDOG=1').length >= 3);
  // Three pings at 100 ms apart take 300 ms at least.
  assert.ok(performance.now() - started >= 280);
  await notifier.stopping();
  await manager.until(() => manager.texts.includes('STOPPING=1'));
  await sleep(300);
  assert.equal(manager.texts.at(-1), 'STOPPING=1', 'no ping after STOPPING=1');

  const other = await startManager(t);
  const notForUs = createNotifier(capture().log, {
    env: envFor(other, { WATCHDOG_USEC: '20000', WATCHDOG_PID: String(process.pid + 1) }),
  });
  await sleep(200);
  await notForUs.stopping();
  await other.until(() => other.texts.length >= 1);
  assert.deepEqual(other.texts, ['STOPPING=1']);
});
