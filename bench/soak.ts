// bench/soak.ts - `npm run soak`: a bounded run of honest load mixed with abuse, against one swarmd.
//
// swarmd runs on 127.0.0.1 and ::1 (HTTP and UDP on one free port, HTTPS on another, a temporary --state-file), and
// for --duration seconds it gets, all at once:
//   honest clients  UDP (BEP 15), HTTP and HTTPS announces and scrapes at a fixed rate from --sources loopback
//                   addresses (127.0.1.1…) and ::1, each address well under a per-address limit (soak/honest.ts);
//   a flood         from ONE address (127.0.0.9): UDP garbage, bad connection ids, valid announces and scrapes far
//                   beyond any fair rate, pipelined HTTP announces and junk HTTP heads, --flood-rate in total, sent
//                   by a small C program (bench/flood.c, built here with cc) after a --baseline without it;
//   slow clients    from 127.0.0.10: slowloris heads, connections that never send, TLS handshakes never finished.
// Meanwhile it samples swarmd's RSS and CPU every second, and at the end reads /metrics, stops swarmd with SIGTERM
// and prints a table: honest success and latency per protocol and family (baseline and under the flood), the flood
// rate achieved, how long slow connections lived, RSS over time against --max-memory, swarmd's exit and the
// warnings and errors it logged, and the issue's targets met or not. One JSON line goes to --results.
// Exit status 1 if swarmd crashed (exited before it was asked to, or not cleanly when asked), else 0.
//
//   npm run soak                                      20 minutes
//   npm run soak -- --duration 120                    2 minutes
//   npm run soak -- --swarmd-args='--workers 1 --announce-rate 20' --tracker-cpu 0 --flood-cpu 1
//   npm run soak -- --help

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { appendFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/ports.ts';
import { get } from '../test/helpers/swarmd.ts';
import { type Ca, issue, makeCa, removeCa } from '../test/helpers/tls.ts';
import { rssMiB } from './proc.ts';
import { buildFlooder, Flooder } from './soak/flooder.ts';
import { HonestLoad, type StreamReport } from './soak/honest.ts';
import { type OutcomeSummary, percentile } from './soak/outcomes.ts';
import { Sampler } from './soak/sampler.ts';
import { SlowClients, type SlowReport } from './soak/slow.ts';

const REPO = resolve(import.meta.dirname, '..');

const HELP = `npm run soak -- [options]
  --duration S            seconds of load in all [1200]
  --baseline S            first seconds without the flood, for comparison [10 % of --duration, at most 60]
  --swarmd-args='ARGS'    more swarmd arguments, split on spaces, after the soak's own (so they win); with '=',
                          as the value starts with a dash
  --tracker-cpu LIST      run swarmd under taskset -c LIST (give --workers too: it counts CPUs at start) [unpinned]
  --flood-cpu LIST        run the flooder under taskset -c LIST [unpinned]
  --honest-rate N         honest requests per second from IPv4, over --sources addresses [600]
  --honest-rate6 N        honest requests per second from ::1 (one address: keep it under the limits) [20]
  --honest-mix U:H:S      shares of UDP, HTTP and HTTPS among honest requests [6:3:1]
  --sources N             IPv4 source addresses of the honest clients, 127.0.1.1… [64]
  --peers-per-source N    distinct peers (ports) per source address [50]
  --torrents N            torrents the honest peers spread over [2000]
  --timeout-ms N          an honest request without a valid reply by then failed [3000]
  --flood-rate N          junk requests and connections per second from one address, in all [50000]
  --flood-http-rate N     of which pipelined HTTP announces over keep-alive [4000]
  --flood-junk-rate N     of which new connections sending a malformed head [1000]
  --flood-mix G:B:A:S     UDP garbage, bad connection ids, valid announces, valid scrapes [1:1:2:1]
  --flood-torrents N      distinct info hashes the flood announces [200000]
  --flood-source ADDR     the flood's one address [127.0.0.9]
  --slowloris N           connections trickling a head a byte a second [200]
  --silent N              connections that never send [200]
  --tls-stall N           TLS handshakes begun and never finished [100]
  --slow-source ADDR      the slow clients' address [127.0.0.10]
  --no-https              no HTTPS listener (then no HTTPS clients or TLS stalls)
  --state-interval S      swarmd's --state-interval [30]
  --results FILE          JSON line appended here [bench/results/soak-<time>.jsonl]
  --keep                  keep the run directory (swarmd's log, state file); kept anyway after a crash`;

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '1200' },
    baseline: { type: 'string' },
    'swarmd-args': { type: 'string', default: '' },
    'tracker-cpu': { type: 'string', default: '' },
    'flood-cpu': { type: 'string', default: '' },
    'honest-rate': { type: 'string', default: '600' },
    'honest-rate6': { type: 'string', default: '20' },
    'honest-mix': { type: 'string', default: '6:3:1' },
    sources: { type: 'string', default: '64' },
    'peers-per-source': { type: 'string', default: '50' },
    torrents: { type: 'string', default: '2000' },
    'timeout-ms': { type: 'string', default: '3000' },
    'flood-rate': { type: 'string', default: '50000' },
    'flood-http-rate': { type: 'string', default: '4000' },
    'flood-junk-rate': { type: 'string', default: '1000' },
    'flood-mix': { type: 'string', default: '1:1:2:1' },
    'flood-torrents': { type: 'string', default: '200000' },
    'flood-source': { type: 'string', default: '127.0.0.9' },
    slowloris: { type: 'string', default: '200' },
    silent: { type: 'string', default: '200' },
    'tls-stall': { type: 'string', default: '100' },
    'slow-source': { type: 'string', default: '127.0.0.10' },
    'no-https': { type: 'boolean', default: false },
    'state-interval': { type: 'string', default: '30' },
    results: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function fail(msg: string): never {
  process.stderr.write(`soak: ${msg}\n`);
  process.exit(2);
}
function int(name: keyof typeof opt, min = 0): number {
  const s = opt[name];
  if (typeof s !== 'string' || !/^\d+$/.test(s) || Number(s) < min) fail(`--${name} wants an integer >= ${min}`);
  return Number(s);
}
function weights(name: keyof typeof opt, parts: number): number[] {
  const s = String(opt[name]);
  const w = s.split(':').map(Number);
  if (w.length !== parts || w.some((x) => !Number.isInteger(x) || x < 0) || w.every((x) => x === 0)) {
    fail(`--${name} wants ${parts} non-negative integers joined by ':', got ${s}`);
  }
  return w;
}

if (opt.help) {
  console.log(HELP);
  process.exit(0);
}
const duration = int('duration', 10);
const baseline = opt.baseline === undefined ? Math.min(60, Math.round(duration / 10)) : int('baseline');
if (baseline >= duration) fail('--baseline must be shorter than --duration');
const [mixUdp, mixHttp, mixHttps] = weights('honest-mix', 3);
weights('flood-mix', 4);
const floodRate = int('flood-rate');
const floodHttpRate = int('flood-http-rate');
const floodJunkRate = int('flood-junk-rate');
const floodUdpRate = floodRate - floodHttpRate - floodJunkRate;
if (floodUdpRate < 0) fail('--flood-http-rate plus --flood-junk-rate exceed --flood-rate');
const sourceCount = int('sources', 1);
if (sourceCount > 254) fail('--sources: at most 254 (127.0.1.1 to 127.0.1.254)');
const stateInterval = int('state-interval', 1);
const timeoutMs = int('timeout-ms', 1);
const userArgs = opt['swarmd-args'].split(/\s+/).filter((a) => a !== '');

// ------------------------------------------------------------------------------------------------ swarmd's flags
/** The long options swarmd's --help lists, with their defaults where it gives one. */
function swarmdFlags(): Map<string, string | null> {
  const help = execFileSync(process.execPath, [join(REPO, 'src/main.ts'), '--help'], { encoding: 'utf8' });
  const flags = new Map<string, string | null>();
  for (const m of help.matchAll(/^\s+(?:-\w, )?--([\w-]+)[^\n]*?(?:\(default: ([^)]*)\))?$/gm)) {
    flags.set(m[1], m[2] ?? null);
  }
  return flags;
}
const known = swarmdFlags();
/**
 * Bounds the soak adds when this swarmd has the flag, leaves it off by default (0 or no default) and the user gave
 * none: without a memory budget there is nothing to hold RSS against, and a connection cap far above what the honest
 * and slow clients hold keeps a runaway from exhausting descriptors. Rate limits are left to swarmd's defaults.
 */
const GUARDS: [string, string][] = [
  ['max-memory', '1024'],
  ['max-connections', '4096'],
];
const given = (flag: string) => userArgs.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
const offByDefault = (flag: string) => known.has(flag) && (known.get(flag) ?? '0') === '0';
const guardArgs = GUARDS.filter(([flag]) => offByDefault(flag) && !given(flag)).flatMap(([flag, value]) => [
  `--${flag}`,
  value,
]);
/** The value swarmd will use for `flag`: the last given, else the soak's guard, else its default. */
function effective(flag: string, args: string[]): string | null {
  let value: string | null = null;
  args.forEach((a, i) => {
    if (a === `--${flag}`) value = args[i + 1] ?? null;
    else if (a.startsWith(`--${flag}=`)) value = a.slice(flag.length + 3);
  });
  return value ?? known.get(flag) ?? null;
}

// ------------------------------------------------------------------------------------------------ set-up
const runDir = mkdtempSync(join(tmpdir(), 'swarmd-soak-'));
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
const resultsFile = opt.results ?? join(REPO, 'bench/results', `soak-${stamp}.jsonl`);
mkdirSync(dirname(resultsFile), { recursive: true });
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const https = !opt['no-https'] && haveOpenssl;
if (!opt['no-https'] && !haveOpenssl) process.stderr.write('soak: no openssl here: running without HTTPS\n');
const ipv6 = await new Promise<boolean>((done) => {
  const s = dgram.createSocket('udp6');
  s.once('error', () => done(false));
  s.bind({ address: '::1', port: 0 }, () => {
    s.close();
    done(true);
  });
});
const rate6 = ipv6 ? int('honest-rate6') : 0;
if (!ipv6) process.stderr.write('soak: no ::1 here: IPv4 only\n');

const flooderBinary = buildFlooder(REPO);
const port = await freePort();
const httpsPort = https ? await freePort() : null;
let ca: Ca | undefined;
const tlsArgs: string[] = [];
if (https) {
  ca = await makeCa();
  const pair = await issue(ca, 'tracker');
  tlsArgs.push('--https-port', `${httpsPort}`, '--cert', pair.chainFile, '--key', pair.keyFile);
}
const stateFile = join(runDir, 'swarmd.state');
// The soak's clients stand for remote ones but send from loopback, which swarmd exempts from its rate limits and
// repeat cache by default.
const exemptArgs = known.has('rate-limit-exempt') ? ['--rate-limit-exempt', 'none'] : [];
const swarmdArgs = [
  ...['--host', '127.0.0.1', ...(ipv6 ? ['--host', '::1'] : []), '--http-port', `${port}`, '--udp-port', `${port}`],
  ...tlsArgs,
  ...['--state-file', stateFile, '--state-interval', `${stateInterval}`],
  ...exemptArgs,
  ...guardArgs,
  ...userArgs,
];
const memoryFlag = effective('max-memory', swarmdArgs);
const budgetMiB = memoryFlag === null || memoryFlag === '0' ? null : memoryFlag;

// ------------------------------------------------------------------------------------------------ swarmd
interface LogTally {
  levels: Record<string, number>;
  /** Messages logged at warn or above, with how often. */
  messages: Map<string, number>;
}
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const logTally: LogTally = { levels: {}, messages: new Map() };
const logFile = join(runDir, 'swarmd.log');
const swarmdCommand = [process.execPath, join(REPO, 'src/main.ts'), ...swarmdArgs];
const pinned = opt['tracker-cpu'] === '' ? swarmdCommand : ['taskset', '-c', opt['tracker-cpu'], ...swarmdCommand];
const swarmd: ChildProcess = spawn(pinned[0], pinned.slice(1), { cwd: runDir, stdio: ['ignore', 'pipe', 'pipe'] });
const logStream = createWriteStream(logFile);
let ready = false;
const readyPromise = new Promise<void>((resolveReady, rejectReady) => {
  const timer = setTimeout(() => rejectReady(new Error('swarmd did not say it was ready within 20 s')), 20_000);
  for (const stream of [swarmd.stdout, swarmd.stderr]) {
    createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => {
      logStream.write(`${line}\n`);
      let event: { level?: number; msg?: string };
      try {
        event = JSON.parse(line);
      } catch {
        event = { level: 50, msg: line.slice(0, 200) };
      }
      const level = LEVELS[event.level ?? 0] ?? String(event.level);
      logTally.levels[level] = (logTally.levels[level] ?? 0) + 1;
      if ((event.level ?? 0) >= 40) {
        const key = `${level}: ${event.msg}`;
        logTally.messages.set(key, (logTally.messages.get(key) ?? 0) + 1);
      }
      if (!ready && event.msg === 'swarmd ready') {
        ready = true;
        clearTimeout(timer);
        resolveReady();
      }
    });
  }
  swarmd.once('exit', () => rejectReady(new Error(`swarmd exited while starting; its log: ${logFile}`)));
});

let stopping = false;
let crash = null as { atSeconds: number; code: number | null; signal: string | null } | null;
let runStart = 0;
const swarmdExit = new Promise<{ code: number | null; signal: string | null }>((done) =>
  swarmd.once('exit', (code, signal) => {
    if (!stopping) crash = { atSeconds: (performance.now() - runStart) / 1000, code, signal };
    done({ code, signal });
  }),
);

process.stderr.write(`soak: ${duration} s (baseline ${baseline} s), run directory ${runDir}\n`);
process.stderr.write(`soak: swarmd ${swarmdArgs.join(' ')}\n`);
await readyPromise.catch((err: Error) => {
  swarmd.kill('SIGKILL');
  removeCa(ca);
  process.stderr.write(`soak: ${err.message}\n${readFileSync(logFile, 'utf8').slice(-4000)}\n`);
  process.exit(1);
});
const trackerPid = swarmd.pid as number;

// ------------------------------------------------------------------------------------------------ the run
runStart = performance.now();
const windowSeconds = Math.max(10, Math.ceil(duration / 120));
const sources4 = Array.from({ length: sourceCount }, (_, i) => `127.0.1.${i + 1}`);
const honest = new HonestLoad({
  port,
  httpsPort,
  ca: ca === undefined ? null : readFileSync(ca.certFile),
  sources4,
  rate4: int('honest-rate'),
  rate6,
  mix: { udp: mixUdp, http: mixHttp, https: mixHttps },
  peersPerSource: int('peers-per-source', 1),
  torrents: int('torrents', 1),
  timeoutMs,
  origin: runStart,
  windowSeconds,
});
const slow = new SlowClients({
  host: '127.0.0.1',
  port,
  httpsPort,
  source: opt['slow-source'],
  counts: { slowloris: int('slowloris'), silent: int('silent'), 'tls-stall': int('tls-stall') },
  byteEveryMs: 1000,
  maxOpensPerSecond: 500,
});
const sampler = new Sampler(trackerPid, runStart);
sampler.start();
await honest.start();
slow.start();

let flooder: Flooder | null = null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sleeps until `seconds` into the run, or until swarmd dies. */
async function runUntil(seconds: number): Promise<void> {
  for (;;) {
    const left = seconds - (performance.now() - runStart) / 1000;
    if (left <= 0 || crash !== null) return;
    await sleep(Math.min(250, left * 1000));
  }
}
const progressTimer = setInterval(progress, Math.max(5, Math.round(duration / 40)) * 1000);
let lastTotals = { requests: 0, failed: 0 };
function progress(): void {
  const t = (performance.now() - runStart) / 1000;
  const totals = honest.totals();
  const s = sampler.latest();
  const tick = flooder?.ticks.at(-1);
  const rates = flooder?.perSecondRates() ?? [];
  const parts = [
    `t=${t.toFixed(0)}s`,
    `honest +${totals.requests - lastTotals.requests} req, +${totals.failed - lastTotals.failed} failed`,
    `flood ${rates.length > 0 ? Math.round(rates.at(-1) ?? 0) : 0}/s${tick?.has_connection_id === false ? ' (no conn id)' : ''}`,
    `RSS ${s?.rssMiB ?? '?'} MiB`,
    `swarmd CPU ${s?.trackerCpu ?? '?'}`,
    `other work ${s?.othersCpu ?? '?'} cores`,
    `soak loop delay ${s?.soakLagMs ?? '?'} ms`,
  ];
  lastTotals = totals;
  process.stderr.write(`soak: ${parts.join(', ')}\n`);
}

await runUntil(baseline);
if (crash === null) {
  honest.phase = 'flood';
  flooder = new Flooder(flooderBinary, {
    target: '127.0.0.1',
    source: opt['flood-source'],
    udpPort: port,
    httpPort: port,
    seconds: duration - baseline,
    udpRate: floodUdpRate,
    mix: opt['flood-mix'],
    httpRate: floodHttpRate,
    httpConnections: 4,
    junkRate: floodJunkRate,
    torrents: int('flood-torrents', 1),
    cpus: opt['flood-cpu'],
  });
  sampler.flooderPid = flooder.proc.pid ?? null;
}
await runUntil(duration);

// ------------------------------------------------------------------------------------------------ wind-down
clearInterval(progressTimer);
await honest.stop();
slow.stop();
if (flooder !== null) {
  if (crash !== null) flooder.proc.kill('SIGTERM');
  await flooder.exited;
}
sampler.stop();
const metrics = crash === null ? await readMetrics() : {};
const finalRss = crash === null ? rssMiB(trackerPid) : null;
stopping = crash === null;
const stopStarted = performance.now();
if (crash === null) swarmd.kill('SIGTERM');
const killTimer = setTimeout(() => swarmd.kill('SIGKILL'), 30_000);
const exit = await swarmdExit;
clearTimeout(killTimer);
const stopSeconds = (performance.now() - stopStarted) / 1000;
logStream.end();
removeCa(ca);
const crashed = crash !== null || exit.code !== 0;

/** swarmd_* samples from /metrics, without the per-minute renew histogram. */
async function readMetrics(): Promise<Record<string, number>> {
  try {
    const res = await get({ host: '127.0.0.1', port }, '/metrics');
    const out: Record<string, number> = {};
    for (const line of res.body.toString().split('\n')) {
      if (!line.startsWith('swarmd_') || line.startsWith('swarmd_renews_total')) continue;
      const space = line.lastIndexOf(' ');
      out[line.slice(0, space)] = Number(line.slice(space + 1));
    }
    return out;
  } catch (err) {
    return { [`unreadable: ${(err as Error).message}`]: 0 };
  }
}

// ------------------------------------------------------------------------------------------------ report
/**
 * Seconds of the flood in which the rest of the machine used under QUIET_OTHERS_CPU cores: the machine is shared, and
 * latencies taken while other work held the CPUs say more about that work than about swarmd. (A sample at t covers
 * the second before it.)
 */
const QUIET_OTHERS_CPU = 0.25;
const quietSeconds = new Set(
  sampler.samples.filter((s) => s.othersCpu < QUIET_OTHERS_CPU && s.t > baseline + 1).map((s) => Math.round(s.t) - 1),
);
const streams = honest.report((second) => quietSeconds.has(second));
const slowReports = slow.report();
const samples = sampler.samples;
const rssValues = samples.map((s) => s.rssMiB);
const rss = {
  minMiB: rssValues.length === 0 ? 0 : Math.min(...rssValues),
  maxMiB: rssValues.length === 0 ? 0 : Math.max(...rssValues),
  finalMiB: finalRss === null ? null : Math.round(finalRss * 10) / 10,
  budgetMiB: budgetMiB === null ? null : Number(budgetMiB),
};
const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
/**
 * At most 240 points, each [t, largest RSS MiB, swarmd's mean CPU in cores, the rest of the machine's mean CPU in
 * cores, the soak's longest event-loop delay in ms]: a latency spike in the honest series reads differently when
 * something else took the CPUs, or when the clients themselves fell behind.
 */
const seriesStep = Math.max(1, Math.ceil(samples.length / 240));
const series: [number, number, number, number, number][] = [];
for (let i = 0; i < samples.length; i += seriesStep) {
  const chunk = samples.slice(i, i + seriesStep);
  series.push([
    chunk[0].t,
    Math.max(...chunk.map((s) => s.rssMiB)),
    round(mean(chunk.map((s) => s.trackerCpu)), 2),
    round(mean(chunk.map((s) => s.othersCpu)), 2),
    Math.max(...chunk.map((s) => s.soakLagMs)),
  ]);
}
const floodSamples = samples.filter((s) => s.t >= baseline + 1);
const cpu = {
  trackerCores: round(mean(floodSamples.map((s) => s.trackerCpu)), 2),
  flooderCores: round(mean(floodSamples.map((s) => s.flooderCpu)), 2),
  soakCores: round(mean(floodSamples.map((s) => s.soakCpu)), 2),
  machineBusyPct: round(mean(floodSamples.map((s) => s.machineBusy)) * 100, 1),
  othersCores: round(mean(floodSamples.map((s) => s.othersCpu)), 2),
  quietSeconds: quietSeconds.size,
  floodSeconds: floodSamples.length,
  soakLagMaxMs: Math.max(0, ...floodSamples.map((s) => s.soakLagMs)),
};
const floodRates = Float64Array.from(flooder?.perSecondRates() ?? []).sort();
const floodFigures = {
  targetPerSecond: floodRate,
  achievedPerSecond: Number(flooder?.summary?.total_rate ?? 0),
  perSecondMin: round(floodRates[0] ?? 0, 0),
  perSecondMedian: round(percentile(floodRates, 50), 0),
  summary: flooder?.summary ?? null,
  errors: flooder?.errors() ?? '',
};

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Every honest stream's outcomes under the flood, merged (latencies are not: the worst p99 stands for them). */
function merged(
  rows: StreamReport[],
  phase: 'baseline' | 'flood' | 'floodQuiet',
): { requests: number; ok: number; pct: number } {
  const requests = rows.reduce((a, r) => a + r[phase].requests, 0);
  const ok = rows.reduce((a, r) => a + r[phase].ok, 0);
  return { requests, ok, pct: requests === 0 ? 100 : (100 * ok) / requests };
}
const floodAll = merged(streams, 'flood');
const quietAll = merged(streams, 'floodQuiet');
const worstP99 = Math.max(0, ...streams.map((r) => r.flood.p99Ms));
const worstQuietP99 = Math.max(0, ...streams.map((r) => r.floodQuiet.p99Ms));
const targets = {
  honestSuccess: { target: '>= 99.9 %', measured: round(floodAll.pct, 3), met: floodAll.pct >= 99.9 },
  honestP99: { target: '< 50 ms (worst stream)', measured: worstP99, met: worstP99 < 50 },
  honestP99Quiet: {
    target: `< 50 ms (worst stream, the ${quietSeconds.size} seconds other work used < ${QUIET_OTHERS_CPU} core)`,
    measured: worstQuietP99,
    met: quietAll.requests === 0 ? null : worstQuietP99 < 50,
  },
  floodRate: {
    target: `>= ${floodRate}/s from one address`,
    measured: floodFigures.achievedPerSecond,
    met: floodFigures.achievedPerSecond >= floodRate * 0.99,
  },
  rssBudget: {
    target: rss.budgetMiB === null ? 'no --max-memory budget configured' : `< ${rss.budgetMiB} MiB`,
    measured: rss.maxMiB,
    met: rss.budgetMiB === null ? null : rss.maxMiB < rss.budgetMiB,
  },
  zeroCrashes: { target: '0', measured: crashed ? 1 : 0, met: !crashed },
};

const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout.trim();
const summary = {
  type: 'soak',
  date: new Date().toISOString(),
  git: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) === '' ? '' : '+dirty'}`,
  durationSeconds: duration,
  baselineSeconds: baseline,
  swarmdArgs: swarmdArgs
    .join(' ')
    .replaceAll(runDir, '$RUN')
    .replace(/\/tmp\/swarmd-tls-\w+/g, '$TLS'),
  options: opt,
  perSourceRate: honest.perSourceRate(),
  honest: streams,
  flood: floodFigures,
  slow: slowReports,
  rss,
  /** [t s, RSS MiB, swarmd CPU cores, other CPU cores, soak event-loop delay ms] */
  series,
  cpu,
  metrics,
  swarmd: {
    crashed,
    crash,
    exit,
    stopSeconds: round(stopSeconds, 2),
    log: { levels: logTally.levels, warnings: Object.fromEntries(logTally.messages) },
  },
  targets,
};
appendFileSync(resultsFile, `${JSON.stringify(summary)}\n`);

// The table.
const out: string[] = [];
const pad = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
const firstFailure = (s: OutcomeSummary) => {
  const [reason, n] = Object.entries(s.failures)[0] ?? ['', 0];
  return reason === '' ? '' : `${n}× ${reason.slice(0, 60)}`;
};
out.push(`soak: ${duration} s, baseline ${baseline} s then flood; swarmd ${summary.swarmdArgs}`);
out.push(
  `honest clients: ${int('honest-rate')}/s over ${sourceCount} IPv4 addresses (${round(summary.perSourceRate.ipv4, 1)}/s each), ${rate6}/s from ::1; mix udp:http:https ${opt['honest-mix']}`,
);
out.push('');
const hw = [12, 8, 9, 9, 7, 7, 8];
out.push(`${pad(['stream', 'phase', 'requests', 'success %', 'p50 ms', 'p99 ms', 'max ms'], hw)}  failures`);
for (const r of streams) {
  for (const phase of ['baseline', 'flood', 'floodQuiet'] as const) {
    const s = r[phase];
    const row = [
      `${r.protocol}/${r.family}`,
      phase === 'floodQuiet' ? 'quiet' : phase,
      s.requests,
      s.successPct.toFixed(3),
      s.p50Ms,
      s.p99Ms,
      s.maxMs,
    ];
    out.push(`${pad(row, hw)}  ${firstFailure(s)}`);
  }
}
out.push(pad(['all', 'flood', floodAll.requests, floodAll.pct.toFixed(3), '', worstP99, ''], hw));
out.push(pad(['all', 'quiet', quietAll.requests, quietAll.pct.toFixed(3), '', worstQuietP99, ''], hw));
out.push(
  `('quiet': the ${quietSeconds.size} of ${floodSamples.length} flood seconds in which other work on the machine used < ${QUIET_OTHERS_CPU} core)`,
);
out.push('');
const fs = floodFigures.summary as Record<string, Record<string, unknown>> | null;
out.push(
  `flood from ${opt['flood-source']}: target ${floodRate}/s, achieved ${floodFigures.achievedPerSecond}/s (per second: min ${floodFigures.perSecondMin}, median ${floodFigures.perSecondMedian})`,
);
if (fs !== null) {
  const udp = fs.udp;
  const http = fs.http;
  const junk = fs.junk;
  out.push(`  UDP  ${udp.rate}/s sent ${JSON.stringify(udp.sent_by_kind)}; replies ${JSON.stringify(udp.replies)}`);
  out.push(`       error texts ${JSON.stringify(udp.error_texts)}`);
  out.push(
    `  HTTP ${http.rate}/s pipelined on ${http.connections} connections: ${http.responses} responses ${JSON.stringify(http.status)}, failure reasons ${JSON.stringify(http.failure_reasons)}, closed by swarmd ${http.closed_by_server}`,
  );
  out.push(
    `  junk ${junk.rate}/s connections: answered ${junk.answered} ${JSON.stringify(junk.status)}, closed silently ${junk.closed_silently}, no answer in 2 s ${junk.timeouts}, connect errors ${JSON.stringify(junk.connect_errnos)}`,
  );
}
if (floodFigures.errors !== '') out.push(`  flooder said: ${floodFigures.errors}`);
out.push('');
out.push(
  pad(['slow clients', 'kept', 'opened', 'closed by swarmd', 'life p50 s', 'life max s'], [12, 6, 8, 16, 10, 10]),
);
for (const s of slowReports as SlowReport[]) {
  const life = s.lifetime;
  const row = [s.kind, s.target, s.opened, s.closedByTracker, round(life.p50Ms / 1000, 1), round(life.maxMs / 1000, 1)];
  out.push(`${pad(row, [12, 6, 8, 16, 10, 10])}  ${JSON.stringify(s.answers)} ${JSON.stringify(s.errors)}`);
}
out.push('');
out.push(
  `RSS MiB: min ${rss.minMiB}, max ${rss.maxMiB}, final ${rss.finalMiB ?? '-'}; budget ${rss.budgetMiB ?? 'none'}`,
);
out.push(
  `CPU under the flood (cores): swarmd ${cpu.trackerCores}, flooder ${cpu.flooderCores}, soak clients ${cpu.soakCores}, other work ${cpu.othersCores}; machine ${cpu.machineBusyPct} % busy; soak event loop held up at most ${cpu.soakLagMaxMs} ms`,
);
const crashText = crash === null ? 'none' : `exited at ${round(crash.atSeconds, 1)} s: ${JSON.stringify(crash)}`;
out.push(
  `swarmd: crash ${crashText}; SIGTERM exit ${JSON.stringify(exit)} after ${round(stopSeconds, 2)} s; log levels ${JSON.stringify(logTally.levels)}`,
);
for (const [msg, n] of logTally.messages) out.push(`  ${n}× ${msg}`);
const metricKeys = Object.keys(metrics).filter((k) =>
  /limit|refus|drop|reject|mismatch|bad|responses|connections/.test(k),
);
if (metricKeys.length > 0) out.push(`metrics: ${metricKeys.map((k) => `${k} ${metrics[k]}`).join(', ')}`);
out.push('');
out.push('targets:');
for (const [name, t] of Object.entries(targets)) {
  const verdict = t.met === null ? 'n/a' : t.met ? 'met' : 'NOT met';
  out.push(`  ${name.padEnd(14)} ${verdict.padEnd(8)} ${t.measured} (target ${t.target})`);
}
out.push('');
out.push(`results: ${resultsFile}`);
if (crashed || opt.keep) out.push(`run directory kept: ${runDir}`);
else rmSync(runDir, { recursive: true, force: true });
console.log(out.join('\n'));
process.exit(crashed ? 1 : 0);
