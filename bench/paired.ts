// bench/paired.ts - `npm run bench:paired`: swarmd's UDP rate over opentracker's, measured in adjacent windows.
//
// `npm run bench` starts every tracker afresh for each run, so within a round one tracker's run and the other's are
// tens of seconds to minutes apart; on a shared machine the rate of both moves by a third over such spans, and a
// per-round ratio carries that drift. Here both trackers start once, pinned to CPU 0, are filled once, and the shared UDP generator
// (udp_load, on CPU 1) alternates between them in short windows, the order swapping every pair: each ratio compares
// two windows seconds apart. UDP only; swarmd may listen on IPv6 (--family ipv6), opentracker's Debian build stays on
// IPv4, so that ratio is IPv6 against IPv4 at the next moment.
//
//   npm run bench:paired                                   8 pairs of 6 s windows over IPv4
//   npm run bench:paired -- --family ipv6 --pairs 12
//   npm run bench:paired -- --swarmd-args '--udp-io dgram'

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { median } from './median.ts';
import { REPO, sharedBench } from './shared-bench.ts';

const { values: opt } = parseArgs({
  options: {
    pairs: { type: 'string', default: '8' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '1' },
    family: { type: 'string', default: 'ipv4' },
    port: { type: 'string', default: '27041' },
    'swarmd-args': { type: 'string', default: '' },
    shared: { type: 'string', default: sharedBench() },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const HELP = `npm run bench:paired -- [options]
  --pairs N             windows per tracker; the order swaps every pair [8]
  --duration S          measured seconds per window [6]
  --warmup S            seconds of load before each window's count starts [1]
  --family ipv4|ipv6    swarmd's address, 127.0.0.1 or ::1; opentracker stays on 127.0.0.1 [ipv4]
  --port N              swarmd's port; opentracker takes the next [27041]
  --swarmd-args 'ARGS'  extra swarmd arguments, split on spaces
  --shared DIR          the shared bench, for udp_load.c [$SWARMD_BENCH_SHARED, ../shared/bench, /work/shared/bench]`;

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
if (opt.family !== 'ipv4' && opt.family !== 'ipv6') fail(`--family wants ipv4 or ipv6, got ${opt.family}`);
for (const cmd of ['opentracker', 'gcc', 'taskset', 'ss']) {
  if (spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) fail(`${cmd} is missing`);
}

const source = join(opt.shared, 'udp_load.c');
if (!existsSync(source)) fail(`no udp_load.c in ${opt.shared} (set --shared or SWARMD_BENCH_SHARED)`);

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
const swarmdTarget = opt.family === 'ipv6' ? `[::1]:${port}` : `127.0.0.1:${port}`;
const otTarget = `127.0.0.1:${port + 1}`;

/** udp_load on CPU 1 with the shared bench's workload defaults; resolves to its output. */
function udpLoad(target: string, args: string[]): Promise<string> {
  const child = spawn('taskset', ['-c', '1', loadTool, '-t', target, '-q', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((done) =>
    child.on('close', (code) => {
      children.delete(child);
      if (code !== 0) fail(`udp_load against ${target} failed: ${err.trim()}`);
      done(out);
    }),
  );
}

function listening(p: number): boolean {
  return spawnSync('ss', ['-Huln', `sport = :${p}`], { encoding: 'utf8' }).stdout.trim() !== '';
}

/** Starts a tracker on CPU 0; its exit before the end is an error. */
function start(name: string, command: string[], p: number): void {
  if (listening(p)) fail(`UDP port ${p} is busy`);
  const child = spawn('taskset', ['-c', '0', ...command], { cwd: scratch, stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('exit', (code) => {
    if (!stopping) fail(`${name} exited (${code})`);
  });
  children.add(child);
}

// opentracker admits only the run's hashes (as in bench.sh), from a whitelist in its chroot, read as nobody.
await udpLoad('127.0.0.1:1', ['--dump-hashes', join(scratch, 'whitelist.txt')]);
chmodSync(scratch, 0o755);
chmodSync(join(scratch, 'whitelist.txt'), 0o644);
start(
  'swarmd',
  [
    process.execPath,
    join(REPO, 'src/main.ts'),
    '--host',
    opt.family === 'ipv6' ? '::1' : '127.0.0.1',
    '--udp-port',
    String(port),
    '--http-port',
    String(port),
    ...opt['swarmd-args'].split(' ').filter((a) => a !== ''),
  ],
  port,
);
const asRoot = process.getuid?.() === 0;
start(
  'opentracker',
  [
    'opentracker',
    '-i',
    '127.0.0.1',
    '-p',
    String(port + 1),
    '-P',
    String(port + 1),
    '-d',
    scratch,
    ...(asRoot ? ['-u', 'nobody'] : []),
    '-w',
    'whitelist.txt',
  ],
  port + 1,
);
const deadline = Date.now() + 10_000;
while (!(listening(port) && listening(port + 1))) {
  if (Date.now() > deadline) fail('the trackers did not listen within 10 s');
  await sleep(100);
}
// Let opentracker's whitelist thread read the file (bench.sh waits as long).
await sleep(500);
for (const target of [swarmdTarget, otTarget]) await udpLoad(target, ['--fill', '-d', '300']);

const window = ['--prefilled', '-d', String(duration), '-w', String(warmup)];
const ratios: number[] = [];
console.log(`swarmd on ${swarmdTarget}, opentracker on ${otTarget}; ${duration} s windows`);
console.log('pair  swarmd ok/s  opentracker ok/s  ratio');
for (let k = 1; k <= pairs; k++) {
  const rate: Record<string, number> = {};
  // Swapped every pair, so neither tracker always has the window right after the other's.
  const order = k % 2 === 1 ? [swarmdTarget, otTarget] : [otTarget, swarmdTarget];
  for (const target of order) {
    const r: { rps: number; err_rate: number } = JSON.parse(await udpLoad(target, window));
    // The shared bench's own test of a run: every reply valid, none lost.
    if (r.err_rate > 0) fail(`${target}: error rate ${r.err_rate} (replies failed, invalid or timed out)`);
    rate[target] = r.rps;
  }
  const ratio = rate[swarmdTarget] / rate[otTarget];
  ratios.push(ratio);
  const cells = [rate[swarmdTarget], rate[otTarget]].map((v) => Math.round(v).toLocaleString('en').padStart(16));
  console.log(`${String(k).padStart(4)}${cells.join('')}  ${ratio.toFixed(2).padStart(5)}`);
}
console.log(
  `median ratio ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)} .. ${Math.max(...ratios).toFixed(2)})`,
);
// The running trackers would keep the process alive; exit stops them.
process.exit(0);
