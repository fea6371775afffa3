// The command line: --help, bad flags, ports in use, disabled listeners, log formats.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { freePort } from '../helpers/ports.ts';
import { get, REPO_ROOT, startSwarmd, UdpClient } from '../helpers/swarmd.ts';

function run(args: string[]) {
  return spawnSync(process.execPath, ['src/main.ts', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 10_000 });
}

test('--help lists every flag and exits 0', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  for (const flag of [
    '--host',
    '--http-port',
    '--udp-port',
    '--ipv6',
    '--interval',
    '--min-interval',
    '--peer-ttl',
    '--max-peers',
    '--max-scrape-hashes',
    '--full-scrape',
    '--tracker-id',
    '--https-port',
    '--cert',
    '--key',
    '--redirect-http',
    '--domain',
    '--header-timeout',
    '--idle-timeout',
    '--handshake-timeout',
    '--max-header-size',
    '--verbose',
    '--log-format',
  ]) {
    assert.ok(r.stdout.includes(flag), `${flag} in --help`);
  }
});

test('a bad flag or value exits non-zero with a one-line reason', () => {
  for (const args of [['--bogus'], ['--http-port', 'x'], ['--http-port', '70000'], ['--host', 'nowhere'], ['-q']]) {
    const r = run(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^swarmd: /);
  }
});

test('a port in use exits non-zero with a one-line reason', async () => {
  const port = await freePort();
  const blocker = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    const r = run(['--host', '127.0.0.1', '--http-port', `${port}`, '--udp-port', '0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /^swarmd: address in use: 127\.0\.0\.1:\d+$/);
  } finally {
    blocker.close();
  }
});

test('port 0 disables a listener', async () => {
  const s = await startSwarmd(['127.0.0.1'], ['--udp-port', '0']);
  const udp = new UdpClient('127.0.0.1', s.port);
  try {
    assert.equal((await get(s, '/nothing')).status, 404);
    const msg = Buffer.alloc(16);
    msg.writeBigUInt64BE(0x41727101980n, 0);
    assert.equal(await udp.request(msg, 300), null);
  } finally {
    udp.close();
    await s.stop();
  }
});

test('SIGTERM stops the tracker with exit code 0', async () => {
  const s = await startSwarmd(['127.0.0.1']);
  const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => r(code)));
  s.proc.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('--log-format pretty: one readable line per event; json (the default): one JSON object per line', async () => {
  const pretty = await startSwarmd(['127.0.0.1'], ['--log-format', 'pretty', '--verbose']);
  await pretty.stop();
  const lines = pretty.output().trim().split('\n');
  assert.ok(lines.length >= 3, pretty.output());
  for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO |WARN ) \S/, line);
  assert.ok(
    lines.some((l) => /INFO {2}swarmd ready {2}workers=1$/.test(l)),
    pretty.output(),
  );
  assert.ok(lines.some((l) => /INFO {2}UDP tracker listening {2}address=udp:\/\/127\.0\.0\.1:\d+\/announce/.test(l)));

  const json = await startSwarmd(['127.0.0.1']);
  await json.stop();
  for (const line of json.output().trim().split('\n')) {
    const event = JSON.parse(line);
    assert.equal(typeof event.msg, 'string');
    assert.equal(typeof event.level, 'number');
  }
});
