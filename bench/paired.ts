// bench/paired.ts - `npm run bench:paired`: swarmd over opentracker (or over another swarmd), measured in adjacent
// windows.
//
// `npm run bench` starts every tracker afresh for each run, so within a round one tracker's run and the other's are
// tens of seconds to minutes apart; on a shared machine the rate of both moves by a third over such spans, and a
// per-round ratio carries that drift. Here both trackers start once, pinned to CPU 0, are filled once, and the shared
// bench's generator (udp_load, or wrk with http_load.lua; on CPU 1) alternates between them in short windows, the
// order swapping every pair: each ratio compares two windows seconds apart. Each window is measured as bench.sh
// measures a run: a warm-up, then the generator's responses/s and the tracker's CPU time (/proc) over the window.
// swarmd may listen on IPv6 (--family ipv6); opentracker's Debian build stays on IPv4, so that ratio is IPv6 against
// IPv4 at the next moment. With `--against swarmd` the other tracker is a second swarmd on the same family
// (`--against-args`), to compare two configurations, such as two workers against one, or, from another checkout
// (`--against-repo`), a change against the code before it.
//
//   npm run bench:paired                                   8 pairs of 6 s windows, UDP over IPv4
//   npm run bench:paired -- --family ipv6 --pairs 12
//   npm run bench:paired -- --proto http --family ipv6     keep-alive: read the ratio per tracker CPU-second
//   npm run bench:paired -- '--swarmd-args=--udp-io dgram'
//   npm run bench:paired -- '--swarmd-args=--workers 2' --against swarmd '--against-args=--workers 1'
//   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && npm ci)
//   npm run bench:paired -- --against swarmd --against-repo /tmp/before

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { median } from './median.ts';
import { cpuSeconds } from './proc.ts';
import { REPO, sharedBench } from './shared-bench.ts';

const { values: opt } = parseArgs({
  options: {
    pairs: { type: 'string', default: '8' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '1' },
    proto: { type: 'string', default: 'udp' },
    family: { type: 'string', default: 'ipv4' },
    port: { type: 'string', default: '27041' },
    'swarmd-args': { type: 'string', default: '' },
    against: { type: 'string', default: 'opentracker' },
    'against-args': { type: 'string', default: '' },
    'against-repo': { type: 'string', default: REPO },
    shared: { type: 'string', default: sharedBench() },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const HELP = `npm run bench:paired -- [options]
  --pairs N             windows per tracker; the order swaps every pair [8]
  --duration S          measured seconds per window [6]
  --warmup S            seconds of load before each window [1]
  --proto udp|http      udp_load, or wrk with http_load.lua (keep-alive) [udp]
  --family ipv4|ipv6    swarmd's address, 127.0.0.1 or ::1; opentracker stays on 127.0.0.1 [ipv4]
  --port N              swarmd's port; the other tracker takes the next [27041]
  '--swarmd-args=ARGS'  extra swarmd arguments, split on spaces (with '=': they start with --)
  --against NAME        the other tracker: opentracker, or swarmd on the same family [opentracker]
  '--against-args=ARGS' extra arguments of the other swarmd, split on spaces
  --against-repo DIR    the other swarmd's checkout (built, with node_modules), to time a change against the code
                        before it [this checkout]
  --shared DIR          the shared bench: udp_load.c, http_load.lua [$SWARMD_BENCH_SHARED, ../shared/bench, /work/shared/bench]`;

function fail(msg: string): never {
  process.stderr.write(`bench:paired: ${msg}\n`);
  process.exit(1);
}

function count(name: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min) fail(`--${name} wants an integer >= ${min}, got ${text}`);
  return Number(text);
}

if (opt.help) {
  console.log(HELP);
  process.exit(0);
}
const pairs = count('pairs', opt.pairs, 1);
const duration = count('duration', opt.duration, 1);
const warmup = count('warmup', opt.warmup, 0);
const port = count('port', opt.port, 1);
if (opt.proto !== 'udp' && opt.proto !== 'http') fail(`--proto wants udp or http, got ${opt.proto}`);
if (opt.family !== 'ipv4' && opt.family !== 'ipv6') fail(`--family wants ipv4 or ipv6, got ${opt.family}`);
if (opt.against !== 'opentracker' && opt.against !== 'swarmd') {
  fail(`--against wants opentracker or swarmd, got ${opt.against}`);
}
const http = opt.proto === 'http';
const againstSwarmd = opt.against === 'swarmd';
if (!againstSwarmd && opt['against-args'] !== '') fail('--against-args is for --against swarmd');
const againstRepo = resolve(opt['against-repo']);
if (!againstSwarmd && againstRepo !== REPO) fail('--against-repo is for --against swarmd');
if (!existsSync(join(againstRepo, 'src/main.ts'))) fail(`--against-repo: no src/main.ts in ${againstRepo}`);
const tools = ['gcc', 'taskset', 'ss', ...(http ? ['wrk'] : []), ...(againstSwarmd ? [] : ['opentracker'])];
for (const cmd of tools) {
  if (spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) fail(`${cmd} is missing`);
}

const source = join(opt.shared, 'udp_load.c');
const script = join(opt.shared, 'http_load.lua');
for (const file of [source, ...(http ? [script] : [])]) {
  if (!existsSync(file)) fail(`no ${file} (set --shared or SWARMD_BENCH_SHARED)`);
}

const scratch = mkdtempSync(join(tmpdir(), 'swarmd-paired-'));
const children = new Set<ChildProcess>();
let stopping = false;
/** On every exit: the trackers and any generator stop, the scratch directory goes. */
function stopAll(): void {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const loadTool = join(scratch, 'udp_load');
if (spawnSync('gcc', ['-O2', '-o', loadTool, source, '-lm'], { stdio: 'inherit' }).status !== 0) fail('gcc failed');
const hashes = join(scratch, 'whitelist.txt');
const swarmdHost = opt.family === 'ipv6' ? '::1' : '127.0.0.1';
const targetOf = (host: string, p: number) => (host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`);
const swarmdTarget = targetOf(swarmdHost, port);
const otherTarget = targetOf(againstSwarmd ? swarmdHost : '127.0.0.1', port + 1);
const otherName = !againstSwarmd
  ? 'opentracker'
  : againstRepo === REPO
    ? 'the other swarmd'
    : `the swarmd of ${againstRepo}`;

/** Runs a generator on CPU 1; resolves to the JSON line it prints. */
function generate(command: string[], what: string): Promise<Record<string, number>> {
  const child = spawn('taskset', ['-c', '1', ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((done) =>
    child.on('close', (code) => {
      children.delete(child);
      const line = out.split('\n').find((l) => l.startsWith('{"tool"'));
      if (code !== 0 || line === undefined) fail(`${what} failed: ${err.trim() || out.trim()}`);
      done(JSON.parse(line));
    }),
  );
}

/**
 * The shared bench's workload against `target` for `seconds`, as bench.sh drives it: `fill` announces every peer
 * once, `mix` is the measured mix over a filled swarm. Every reply is checked; one failed, invalid or lost fails the run.
 */
async function load(target: string, mode: 'fill' | 'mix', seconds: number): Promise<{ rps: number; ok: number }> {
  const what = `${opt.proto} ${mode} against ${target}`;
  const r = http
    ? await generate(
        [
          'wrk',
          '-t1',
          '-c128',
          `-d${seconds}s`,
          '--timeout',
          '2s',
          '-s',
          script,
          `http://${target}`,
          '--',
          `hashes=${hashes}`,
          'connections=128',
          mode === 'fill' ? 'mode=fill' : 'prefilled=1',
        ],
        what,
      )
    : await generate(
        [
          loadTool,
          '-t',
          target,
          '-q',
          ...(mode === 'fill' ? ['--fill'] : ['--prefilled', '-w', '0']),
          '-d',
          String(seconds),
        ],
        what,
      );
  // A fill stops once every peer is in; its rate means nothing.
  if (mode === 'mix' && r.err_rate > 0) fail(`${what}: replies failed, invalid or timed out: ${JSON.stringify(r)}`);
  return { rps: r.rps, ok: r.ok };
}

function listening(p: number): boolean {
  return spawnSync('ss', [http ? '-Htln' : '-Huln', `sport = :${p}`], { encoding: 'utf8' }).stdout.trim() !== '';
}

/** Starts a tracker on CPU 0 (taskset execs it: the child's PID is the tracker's); its exit before the end fails. */
function start(name: string, command: string[], p: number): number {
  if (listening(p)) fail(`port ${p} is busy`);
  const child = spawn('taskset', ['-c', '0', ...command], { cwd: scratch, stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('exit', (code) => {
    if (!stopping) fail(`${name} exited (${code})`);
  });
  children.add(child);
  if (child.pid === undefined) fail(`${name} did not start`);
  return child.pid;
}

function swarmd(p: number, args: string, repo = REPO): string[] {
  const listen = ['--host', swarmdHost, '--udp-port', String(p), '--http-port', String(p)];
  return [process.execPath, join(repo, 'src/main.ts'), ...listen, ...args.split(' ').filter((a) => a !== '')];
}

/** opentracker on `p`, admitting only the run's hashes (as in bench.sh), from a whitelist in its chroot. */
function opentracker(p: number): string[] {
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  return [
    'opentracker',
    '-i',
    '127.0.0.1',
    '-p',
    String(p),
    '-P',
    String(p),
    '-d',
    scratch,
    ...user,
    '-w',
    'whitelist.txt',
  ];
}

/** CPU seconds the tracker has used, all its threads. */
function trackerCpu(target: string): number {
  const seconds = cpuSeconds(pids[target]);
  if (seconds === null) fail(`the tracker on ${target} is gone`);
  return seconds;
}

// The run's info hashes: opentracker's whitelist (read as nobody, in its chroot) and http_load's torrents.
if (spawnSync(loadTool, ['-t', '127.0.0.1:1', '-q', '--dump-hashes', hashes], { stdio: 'inherit' }).status !== 0) {
  fail('udp_load --dump-hashes failed');
}
chmodSync(scratch, 0o755);
chmodSync(hashes, 0o644);
const pids: Record<string, number> = {};
pids[swarmdTarget] = start('swarmd', swarmd(port, opt['swarmd-args']), port);
pids[otherTarget] = start(
  otherName,
  againstSwarmd ? swarmd(port + 1, opt['against-args'], againstRepo) : opentracker(port + 1),
  port + 1,
);
const deadline = Date.now() + 10_000;
while (!(listening(port) && listening(port + 1))) {
  if (Date.now() > deadline) fail('the trackers did not listen within 10 s');
  await sleep(100);
}
// Let opentracker's whitelist thread read the file (bench.sh waits as long).
await sleep(500);
for (const target of [swarmdTarget, otherTarget]) await load(target, 'fill', 300);

const rateRatios: number[] = [];
const cpuRatios: number[] = [];
console.log(`${opt.proto}: swarmd on ${swarmdTarget}, ${otherName} on ${otherTarget}; ${duration} s windows`);
console.log('       responses/s            per tracker CPU-second');
console.log('pair       swarmd      other  ratio      swarmd      other  ratio');
for (let k = 1; k <= pairs; k++) {
  const rate: Record<string, number> = {};
  const perCpu: Record<string, number> = {};
  // Swapped every pair, so neither tracker always has the window right after the other's.
  const order = k % 2 === 1 ? [swarmdTarget, otherTarget] : [otherTarget, swarmdTarget];
  for (const target of order) {
    if (warmup > 0) await load(target, 'mix', warmup);
    const cpuBefore = trackerCpu(target);
    const r = await load(target, 'mix', duration);
    rate[target] = r.rps;
    perCpu[target] = r.ok / (trackerCpu(target) - cpuBefore);
  }
  rateRatios.push(rate[swarmdTarget] / rate[otherTarget]);
  cpuRatios.push(perCpu[swarmdTarget] / perCpu[otherTarget]);
  const cell = (v: number) => Math.round(v).toLocaleString('en').padStart(11);
  const ratio = (x: number) => x.toFixed(2).padStart(6);
  console.log(
    `${String(k).padStart(4)} ${cell(rate[swarmdTarget])}${cell(rate[otherTarget])}${ratio(rateRatios[k - 1])} ` +
      `${cell(perCpu[swarmdTarget])}${cell(perCpu[otherTarget])}${ratio(cpuRatios[k - 1])}`,
  );
}
const spread = (xs: number[]) =>
  `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)} .. ${Math.max(...xs).toFixed(2)})`;
console.log(`median ratio of responses/s ${spread(rateRatios)}`);
console.log(`median ratio per tracker CPU-second ${spread(cpuRatios)}`);
// Its inverse, CPU per response, is the figure of issue 3's two-worker target (with --against swarmd).
console.log(`median CPU per response, swarmd over ${otherName}: ${spread(cpuRatios.map((x) => 1 / x))}`);
// The running trackers would keep the process alive; exit stops them.
process.exit(0);
