// The systemd unit (packaging/swarmd.service) and its site settings (packaging/swarmd.default, installed as
// /etc/default/swarmd): systemd-analyze accepts the unit without a word, the hardening it promises is there, and its
// command line, with the settings file's values, really starts swarmd, reloads on SIGHUP and stops cleanly.
//
// systemd-analyze verify checks that ExecStart's program exists, so it reads a copy whose ExecStart names this
// checkout's node and src/main.ts instead of /opt/swarmd's. It does not look the User= up, so the swarmd user need not
// exist here. Needs systemd-analyze (Debian's `systemd` package, which .ci/run installs); without it those tests are
// skipped, or fail when CI is set. Starting the command line needs openssl (test/helpers/tls.ts).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { onPath } from '../helpers/commands.ts';
import { freePort } from '../helpers/ports.ts';
import { announceTarget, get, REPO_ROOT, spawnSwarmd, UdpClient } from '../helpers/swarmd.ts';
import { type Ca, HttpsConnection, issue, makeCa, removeCa } from '../helpers/tls.ts';

const UNIT_TEXT = readFileSync(path.join(REPO_ROOT, 'packaging/swarmd.service'), 'utf8');
const DEFAULTS_TEXT = readFileSync(path.join(REPO_ROOT, 'packaging/swarmd.default'), 'utf8');
/** Where docs/deploy.md installs the code. */
const INSTALLED = ['/opt/swarmd/node_modules/.bin/node', '/opt/swarmd/src/main.ts'];

const ANALYZE_MISSING = onPath('systemd-analyze') ? null : 'needs systemd-analyze on PATH (apt-get install systemd)';
if (ANALYZE_MISSING !== null && process.env.CI) {
  test('systemd-analyze is installed (CI)', () => assert.fail(ANALYZE_MISSING));
}
const skipAnalyze = ANALYZE_MISSING ?? false;

type Section = Map<string, string[]>;

/** A unit file's assignments by section and key, every value kept in order (continuation lines joined). */
function parseUnit(text: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let section: Section | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = new Map();
      sections.set(header[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section !== undefined && eq > 0, `not an assignment in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const UNIT = parseUnit(UNIT_TEXT);
const SERVICE = UNIT.get('Service') ?? new Map<string, string[]>();

/** The value of a key the [Service] section sets exactly once. */
function setting(key: string): string {
  const values = SERVICE.get(key) ?? [];
  assert.equal(values.length, 1, `[Service] ${key}= set ${values.length} times`);
  return values[0];
}

/** The settings file's KEY=VALUE lines. */
function defaults(): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of DEFAULTS_TEXT.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match !== null) vars.set(match[1], match[2]);
  }
  return vars;
}

/** ExecStart's words as systemd passes them: ${VAR} one word, $VAR split at spaces (none when empty). */
function execStartWords(): string[] {
  const vars = defaults();
  const value = (name: string) => {
    const v = vars.get(name);
    assert.ok(v !== undefined, `ExecStart uses ${name}, which packaging/swarmd.default does not set`);
    return v;
  };
  return setting('ExecStart')
    .split(/\s+/)
    .flatMap((word) => {
      const braced = /^\$\{(\w+)\}$/.exec(word);
      if (braced !== null) return [value(braced[1])];
      const bare = /^\$(\w+)$/.exec(word);
      if (bare !== null) return value(bare[1]).split(/\s+/).filter(Boolean);
      assert.ok(!word.includes('$'), `a variable inside a word: ${word}`);
      return [word];
    });
}

/** The value after `flag` in `args`. */
function flagValue(args: string[], flag: string): string {
  const at = args.indexOf(flag);
  assert.ok(at >= 0 && at + 1 < args.length, `ExecStart has no ${flag}`);
  return args[at + 1];
}

/** `args` with the value after `flag` replaced by `replace(old)`. */
function withFlag(args: string[], flag: string, replace: (old: string) => string): string[] {
  const at = args.indexOf(flag);
  assert.ok(at >= 0, `ExecStart has no ${flag}`);
  return args.map((arg, i) => (i === at + 1 ? replace(arg) : arg));
}

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, output: stdout + stderr });
    });
  });
}

let dir = '';
/** The unit as installed, but for ExecStart's program and script, which are this checkout's. */
let unitCopy = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'swarmd-packaging-'));
  unitCopy = path.join(dir, 'swarmd.service');
  const local = UNIT_TEXT.replace(
    `ExecStart=${INSTALLED.join(' ')} `,
    `ExecStart=${process.execPath} ${path.join(REPO_ROOT, 'src/main.ts')} `,
  );
  assert.notEqual(local, UNIT_TEXT, `ExecStart does not start with ${INSTALLED.join(' ')}`);
  await writeFile(unitCopy, local);
});
after(() => rm(dir, { recursive: true, force: true }));

test('systemd-analyze verify accepts the unit without a warning', { skip: skipAnalyze }, async () => {
  const result = await run('systemd-analyze', ['verify', '--man=no', unitCopy]);
  assert.deepEqual(result, { code: 0, output: '' });

  // The same check on a copy with a directive systemd does not know: verify does complain, so silence above means
  // every directive was understood.
  const misspelt = path.join(dir, 'misspelt', 'swarmd.service');
  await mkdir(path.dirname(misspelt));
  await writeFile(misspelt, readFileSync(unitCopy, 'utf8').replace('[Service]\n', '[Service]\nProtectSytem=strict\n'));
  const complaint = await run('systemd-analyze', ['verify', '--man=no', misspelt]);
  assert.match(complaint.output, /Unknown key.*ProtectSytem/);
});

test('systemd-analyze security rates the unit OK or better', { skip: skipAnalyze }, async () => {
  const result = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitCopy]);
  assert.equal(result.code, 0, result.output);
  const score = /Overall exposure level for swarmd\.service: (\d+\.\d+)/.exec(result.output);
  assert.ok(score !== null, result.output);
  // A loose bound on purpose: each systemd release adds checks. The figure measured is in docs/deploy.md.
  assert.ok(Number(score[1]) < 3, `exposure ${score[1]}`);
});

test('the unit keeps the identity and the hardening it promises', () => {
  assert.equal(setting('Type'), 'notify');
  // The notifications come from systemd-notify, a child process (src/cli/systemd.ts).
  assert.equal(setting('NotifyAccess'), 'all');
  assert.equal(setting('User'), 'swarmd');
  assert.equal(setting('Group'), 'swarmd');
  assert.equal(SERVICE.has('DynamicUser'), false);
  assert.equal(setting('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(setting('Restart'), 'on-failure');
  assert.equal(setting('EnvironmentFile'), '/etc/default/swarmd');
  const expected: Record<string, string> = {
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectKernelLogs: 'yes',
    ProtectControlGroups: 'yes',
    ProtectClock: 'yes',
    ProtectHostname: 'yes',
    ProtectProc: 'invisible',
    ProcSubset: 'pid',
    RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
    RestrictNamespaces: 'yes',
    RestrictRealtime: 'yes',
    RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes',
    RemoveIPC: 'yes',
    SystemCallArchitectures: 'native',
    UMask: '0077',
    AmbientCapabilities: 'CAP_NET_BIND_SERVICE',
    CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE',
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(setting(key), value, key);
  assert.equal(SERVICE.get('SystemCallFilter')?.[0], '@system-service');
  // V8 needs writable and executable memory; Node aborts under MemoryDenyWriteExecute=yes.
  assert.equal(SERVICE.has('MemoryDenyWriteExecute'), false);
  assert.ok(Number(setting('LimitNOFILE')) >= 65536);

  const args = execStartWords();
  assert.deepEqual(args.slice(0, 2), INSTALLED);
  const readOnly = setting('ReadOnlyPaths').split(/\s+/);
  for (const flag of ['--cert', '--key']) assert.ok(readOnly.includes(path.dirname(flagValue(args, flag))), flag);
  const stateDir = path.join('/var/lib', setting('StateDirectory'));
  assert.equal(path.dirname(flagValue(args, '--state-file')), stateDir);
});

test("the unit's command line starts swarmd; SIGHUP reloads, SIGTERM saves the state and exits 0", async (t) => {
  let ca: Ca | undefined;
  t.after(() => removeCa(ca));
  ca = await makeCa();
  const { chainFile, keyFile } = await issue(ca, 'server');
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const stateFile = path.join(dir, 'state');

  // What differs from the unit: unprivileged ports (so the domain carries the HTTPS port), this test's files, and
  // one worker on loopback, as the other tests run.
  let args = execStartWords().slice(2);
  args = withFlag(args, '--http-port', () => String(httpPort));
  args = withFlag(args, '--udp-port', () => String(httpPort));
  args = withFlag(args, '--https-port', () => String(httpsPort));
  args = withFlag(args, '--domain', (domain) => `${domain}:${httpsPort}`);
  args = withFlag(args, '--cert', () => chainFile);
  args = withFlag(args, '--key', () => keyFile);
  args = withFlag(args, '--state-file', () => stateFile);
  args.push('--host', '127.0.0.1', '--workers', '1');
  const swarmd = await spawnSwarmd(args, '127.0.0.1', httpPort);
  t.after(() => swarmd.stop());

  const target = announceTarget({ hash: Buffer.alloc(20, 0x5a), port: 6881 });
  const redirect = await get(swarmd, target);
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, `https://${defaults().get('SWARMD_DOMAIN')}:${httpsPort}${target}`);
  const https = await HttpsConnection.open('127.0.0.1', httpsPort, ca.certFile);
  t.after(() => https.socket.destroy());
  assert.equal((await https.get(target)).status, 200);
  const udp = new UdpClient('127.0.0.1', httpPort);
  t.after(() => udp.close());
  await udp.connect();

  swarmd.proc.kill('SIGHUP');
  for (let waited = 0; !swarmd.output().includes('SIGHUP'); waited += 20) {
    assert.ok(waited < 5000, `no SIGHUP line in the log:\n${swarmd.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(swarmd.proc.exitCode, null, 'still running after SIGHUP');

  await swarmd.stop();
  assert.equal(swarmd.proc.exitCode, 0, swarmd.output());
  assert.ok((await stat(stateFile)).size > 0);
});
