// bench/run.ts - `npm run bench`: swarmd against opentracker and bittorrent-tracker, side by side.
//
// Drives the shared load generators (/work/shared/bench: udp_load.c, wrk + http_load.lua, bench.sh) over UDP, HTTP
// keep-alive and HTTP with one connection per request, on IPv4 (127.0.0.1) and IPv6 (::1), then measures resident
// memory per peer (bench.sh mem), and prints one table computed from the JSON-lines results file, nothing else.
//
// The shared directory is read-only and bench.sh compiles into build/ beside itself, so it is copied to a scratch
// directory (--work, default $TMPDIR/swarmd-bench; build/ and bittorrent-tracker's node_modules are kept between
// runs) and patched there: see PATCHES. Every bench.sh command is printed before it runs; its raw output streams
// through. Tracker on CPU 0, generator on CPU 1 (bench.sh). opentracker's Debian build is IPv4-only, so the IPv6
// rows run without it and their ratio is to opentracker's IPv4 figure of the same round number (marked ~).
//
//   npm run bench                                   full run (3 rounds x 10 s; ~20 min, mostly bittorrent-tracker)
//   npm run bench -- --rounds 1 --duration 3 --warmup 1 --families ipv4 --protos udp --no-mem
//   npm run bench -- --trackers opentracker,swarmd,swarmd-dgram     two swarmd variants in one run
//   npm run bench -- --swarmd-args '--workers 1' --variant 'swarmd-w2=--workers 2'
//   npm run bench -- --summary bench/results/FILE.jsonl             the table of an earlier run
//   npm run bench -- --help
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './median.ts';
import { REPO, sharedBench } from './shared-bench.ts';

const INSTALL_HINT = 'apt-get install -y opentracker wrk gcc iproute2 curl';

/** swarmd variants known by name; `--variant NAME=ARGS` adds more. Their args follow `--swarmd-args`. */
const VARIANTS: Record<string, string> = { swarmd: '', 'swarmd-dgram': '--udp-io dgram' };
const ANCHORS = ['opentracker', 'bittorrent-tracker'];
/** Not a tracker: Node's sockets answering with no tracker work (bench/node-floor.ts), the fallback paths' ceiling. */
const FLOOR = 'node-floor';
const FAMILIES: Record<string, string> = { ipv4: '127.0.0.1', ipv6: '::1' };
const PROTOS = ['udp', 'http', 'http-close'];

const HELP = `npm run bench -- [options]
  --rounds N             rounds per case; the tracker order alternates [3]
  --duration S           measured seconds per run [10]
  --warmup S             warm-up seconds per run, after the prefill [3]
  --protos LIST          udp,http,http-close (http-close: 'Connection: close', one connection per request),
                         or none (memory only) [all]
  --families LIST        ipv4,ipv6 [both]; opentracker is IPv4-only and is left out of ipv6
  --trackers LIST        from opentracker,bittorrent-tracker,${Object.keys(VARIANTS).join(',')} and --variant
                         names [swarmd,opentracker,bittorrent-tracker]; also ${FLOOR}, Node's dgram and net
                         answering with no tracker work (bench/node-floor.ts), the ceiling of swarmd's fallback
  --swarmd-args 'ARGS'   extra arguments for every swarmd variant (e.g. '--udp-io dgram')
  --variant NAME=ARGS    define a swarmd variant (repeatable) and add it to --trackers
  --swarmd-cpus LIST     let swarmd run on these CPUs (taskset -c LIST inside bench.sh's pinning to one), e.g. 0,1
                         for two workers on two cores; the generator keeps its own CPU, which the second shares
  --peers N --torrents N workload of the throughput runs [bench.sh: 200000, 100000]
  --mem-peers N          peers for the memory runs [1000000]
  --mem-torrents N       torrents for the memory runs [100000]
  --mem-trackers LIST    trackers measured by bench.sh mem [the chosen trackers but bittorrent-tracker]
  --no-mem               skip the memory runs
  --fill-max S           time cap of a prefill and of a memory fill [bench.sh: 300]
  --port N               port for every tracker; bench.sh refuses a busy one [27001]
  --bench-args 'ARGS'    more bench.sh options for the throughput runs, split on spaces (e.g. '--window 64')
  --results FILE         JSON-lines results [bench/results/<time>.jsonl]
  --work DIR             scratch copy of the shared bench [$SWARMD_BENCH_WORK or $TMPDIR/swarmd-bench]
  --shared DIR           the shared bench [$SWARMD_BENCH_SHARED, ../shared/bench, or /work/shared/bench]
  --summary FILE         print the table of an existing results file and exit`;

// ------------------------------------------------------------------------------------------------ options
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    protos: { type: 'string', default: PROTOS.join(',') },
    families: { type: 'string', default: 'ipv4,ipv6' },
    trackers: { type: 'string', default: 'swarmd,opentracker,bittorrent-tracker' },
    'swarmd-args': { type: 'string', default: '' },
    variant: { type: 'string', multiple: true, default: [] },
    'swarmd-cpus': { type: 'string' },
    peers: { type: 'string' },
    torrents: { type: 'string' },
    'mem-peers': { type: 'string', default: '1000000' },
    'mem-torrents': { type: 'string', default: '100000' },
    'mem-trackers': { type: 'string' },
    'no-mem': { type: 'boolean', default: false },
    'fill-max': { type: 'string' },
    port: { type: 'string', default: '27001' },
    'bench-args': { type: 'string', default: '' },
    results: { type: 'string' },
    work: { type: 'string', default: process.env.SWARMD_BENCH_WORK || join(tmpdir(), 'swarmd-bench') },
    shared: { type: 'string', default: sharedBench() },
    summary: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}
const list = (s: string) => s.split(',').filter((x) => x !== '');
const int = (name: string, s: string | undefined, min = 0): string => {
  if (s === undefined || !/^\d+$/.test(s) || Number(s) < min) fail(`--${name} wants an integer >= ${min}, got ${s}`);
  return s;
};

if (opt.help) {
  console.log(HELP);
  process.exit(0);
}
if (opt.summary !== undefined) {
  console.log(table(readResults(opt.summary)));
  process.exit(0);
}

for (const v of opt.variant) {
  const eq = v.indexOf('=');
  if (eq <= 0) fail(`--variant wants NAME=ARGS, got ${v}`);
  VARIANTS[v.slice(0, eq)] = v.slice(eq + 1);
}
const trackers = [...new Set([...list(opt.trackers), ...opt.variant.map((v) => v.slice(0, v.indexOf('=')))])];
for (const t of trackers) if (!ANCHORS.includes(t) && !(t in VARIANTS) && t !== FLOOR) fail(`unknown tracker ${t}`);
const protos = list(opt.protos).filter((p) => p !== 'none');
for (const p of protos) if (!PROTOS.includes(p)) fail(`unknown proto ${p} (${PROTOS.join(', ')})`);
const families = list(opt.families);
for (const f of families) if (!(f in FAMILIES)) fail(`unknown family ${f} (ipv4, ipv6)`);
const memTrackers = opt['no-mem']
  ? []
  : list(opt['mem-trackers'] ?? trackers.filter((t) => t !== 'bittorrent-tracker' && t !== FLOOR).join(','));
for (const t of memTrackers) if (!ANCHORS.includes(t) && !(t in VARIANTS)) fail(`unknown mem tracker ${t}`);
int('rounds', opt.rounds, 1);
int('duration', opt.duration, 1);
int('warmup', opt.warmup);
int('port', opt.port, 1);
int('mem-peers', opt['mem-peers'], 1);
int('mem-torrents', opt['mem-torrents'], 1);
if (opt.peers !== undefined) int('peers', opt.peers, 1);
if (opt['fill-max'] !== undefined) int('fill-max', opt['fill-max'], 1);
if (opt.torrents !== undefined) int('torrents', opt.torrents, 1);
const swarmdCpus = opt['swarmd-cpus'];
if (swarmdCpus !== undefined && !/^\d+([-,]\d+)*$/.test(swarmdCpus))
  fail(`--swarmd-cpus wants a CPU list, got ${swarmdCpus}`);

const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
function swarmdCommand(name: string): string {
  // swarmd's defaults: the generators send from loopback, which the rate limits and the repeat cache leave alone
  // (--rate-limit-exempt), so every request does the work opentracker does.
  const extra = [opt['swarmd-args'], VARIANTS[name]].filter((s) => s !== '').join(' ');
  // bench.sh runs the command under `taskset -c SERVER_CPU`; a second taskset widens that, since it only pins.
  const pin = swarmdCpus === undefined ? '' : `taskset -c ${swarmdCpus} `;
  return `${pin}${q(process.execPath)} ${q(join(REPO, 'src/main.ts'))} --host {HOST} --http-port {PORT} --udp-port {PORT}${extra ? ` ${extra}` : ''}`;
}

// ------------------------------------------------------------------------------------------------ checks
function have(cmd: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
function preflight(): void {
  const needs = new Map<string, string>([
    ['gcc', 'gcc'],
    ['taskset', 'util-linux'],
    ['ss', 'iproute2'],
    ['awk', 'gawk'],
  ]);
  if (protos.some((p) => p !== 'udp')) needs.set('wrk', 'wrk');
  const all = new Set([...trackers, ...memTrackers]);
  if (all.has('opentracker')) {
    needs.set('opentracker', 'opentracker');
    if (memTrackers.includes('opentracker')) needs.set('curl', 'curl');
  }
  const missing = [...needs].filter(([cmd]) => !have(cmd));
  if (missing.length > 0) {
    fail(
      `missing: ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}\n` +
        `  install with: ${INSTALL_HINT}${missing.some(([c]) => c === 'taskset') ? ' util-linux' : ''}`,
    );
  }
  if (!existsSync(join(opt.shared, 'bench.sh')))
    fail(`no bench.sh in ${opt.shared} (set --shared or SWARMD_BENCH_SHARED)`);
  if (availableParallelism() < 2) fail('needs 2 CPUs: tracker on CPU 0, generator on CPU 1');
  if (families.includes('ipv6') && !readFileSync('/proc/net/if_inet6', 'utf8').includes(`${'0'.repeat(31)}1`)) {
    fail('IPv6 loopback (::1) is not configured; run with --families ipv4');
  }
}

// ------------------------------------------------------------------------------------------------ scratch copy
// PATCHES, applied to the scratch copy only. The HTTP generator builds each request itself (http_load.lua returns the
// whole request text), so wrk's -H never reaches the wire: the header has to be added in the Lua script.
const PATCHES: Record<string, [string, string][]> = {
  'http_load.lua': [
    [
      '-- http_load.lua - wrk script',
      '-- PATCHED by swarmd bench/run.ts: close=1 adds "Connection: close" to every request, so the tracker closes\n' +
        '-- the connection after each answer and wrk opens a new one per request.\n-- http_load.lua - wrk script',
    ],
    ['torrents = 0, connections = 128,', 'torrents = 0, connections = 128, close = 0, -- close: PATCHED, see top'],
    [
      '"\\r\\nUser-Agent: http_load\\r\\n\\r\\n"',
      '"\\r\\nUser-Agent: http_load\\r\\n" ..\n    (cfg.close == 1 and "Connection: close\\r\\n" or "") .. "\\r\\n" -- PATCHED, see top',
    ],
  ],
  'bench.sh': [
    [
      'gen_http() { # seconds lua-args...',
      '# PATCHED by swarmd bench/run.ts: BENCH_HTTP_CLOSE=1 in the environment makes http_load.lua send\n' +
        '# "Connection: close" (close=1), one connection per request, for prefill, warm-up and measurement.\n' +
        'gen_http() { # seconds lua-args...',
    ],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
    ['"connections=$CONNS" "$@"', '"connections=$CONNS" ${BENCH_HTTP_CLOSE:+close=1} "$@"'],
  ],
};

/** Copies the shared bench into `to`, patched, writing only files whose content changed (so builds are kept). */
function copyTree(from: string, to: string, rel = ''): void {
  mkdirSync(join(to, rel), { recursive: true });
  for (const e of readdirSync(join(from, rel), { withFileTypes: true })) {
    if (['build', 'results', 'node_modules', 'parts'].includes(e.name)) continue;
    const file = join(rel, e.name);
    if (e.isDirectory()) {
      copyTree(from, to, file);
      continue;
    }
    let text = readFileSync(join(from, file));
    for (const [old, patched] of PATCHES[file] ?? []) {
      const s = text.toString('utf8');
      if (s.split(old).length !== 2) fail(`cannot patch ${file}: '${old}' is not found once (bench changed?)`);
      text = Buffer.from(s.replace(old, () => patched));
    }
    const dst = join(to, file);
    if (!existsSync(dst) || !readFileSync(dst).equals(text)) {
      writeFileSync(dst, text);
      chmodSync(dst, statSync(join(from, file)).mode | 0o200);
    }
  }
}

function prepare(): string {
  const work = resolve(opt.work);
  copyTree(opt.shared, work);
  const bt = join(work, 'peers/bittorrent-tracker');
  const wanted = trackers.includes('bittorrent-tracker') || memTrackers.includes('bittorrent-tracker');
  if (wanted && !existsSync(join(bt, 'node_modules/bittorrent-tracker/package.json'))) {
    if (!have('npm')) fail(`bittorrent-tracker is not installed in ${bt} and npm is missing (apt-get install -y npm)`);
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], bt);
  }
  return work;
}

// ------------------------------------------------------------------------------------------------ running
let child: ReturnType<typeof spawn> | null = null;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    child?.kill('SIGTERM'); // bench.sh's trap stops its tracker
  });
}

/** Prints a command as it could be typed into a shell (env assignments first). */
function show(cmd: string[], env: Record<string, string>): void {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${k === 'PATH' ? v : q(v)} `);
  console.error(`\n$ ${vars.join('')}${cmd.map(q).join(' ')}`);
}

function run(cmd: string, args: string[], cwd: string): void {
  show([cmd, ...args], {});
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) fail(`${cmd} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
}

async function benchSh(work: string, args: string[], env: Record<string, string>): Promise<void> {
  // bittorrent-tracker runs on `node` from PATH: put this Node (24) first, so both Node trackers share a runtime.
  const nodeDir = dirname(process.execPath);
  const cmd = [join(work, 'bench.sh'), ...args];
  show(cmd, { PATH: `${q(nodeDir)}:$PATH`, ...env });
  const code = await new Promise<number>((done) => {
    const path = `${nodeDir}:${process.env.PATH}`;
    child = spawn(cmd[0], args, { cwd: work, stdio: 'inherit', env: { ...process.env, ...env, PATH: path } });
    child.on('exit', (c, s) => done(c ?? (s ? 128 : 1)));
    child.on('error', (e) => fail(`cannot run bench.sh: ${e.message}`));
  });
  child = null;
  if (interrupted) fail('interrupted');
  if (code !== 0) fail(`bench.sh ${args[0]} failed with exit code ${code}; see its messages above`);
}

/** Appends the lines of one bench.sh results file to the run's file, each tagged with its case. */
function collect(part: string, results: string, tags: Record<string, string>): void {
  if (!existsSync(part)) fail(`bench.sh wrote no results to ${part}`);
  const lines = readFileSync(part, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'));
  const out = lines.map((l) => JSON.stringify({ ...JSON.parse(l), ...tags }));
  appendFileSync(results, out.map((l) => `${l}\n`).join(''));
}

async function main(): Promise<void> {
  preflight();
  const work = prepare();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const results = resolve(opt.results ?? join(REPO, 'bench/results', `${stamp}.jsonl`));
  mkdirSync(dirname(results), { recursive: true });
  const parts = join(work, 'parts', stamp);
  mkdirSync(parts, { recursive: true });
  const git = spawnSync('git', ['-C', REPO, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim();
  const head = {
    swarmd_bench: { date: new Date().toISOString(), git, node: process.version, argv: process.argv.slice(2) },
  };
  appendFileSync(results, `${JSON.stringify(head)}\n`);
  console.error(`bench: results: ${results}`);

  const trackerOpts = [...new Set([...trackers, ...memTrackers])]
    .filter((t) => t in VARIANTS)
    .flatMap((t) => ['--tracker', `${t}=${swarmdCommand(t)}`]);
  if (trackers.includes(FLOOR)) {
    const floor = `${q(process.execPath)} ${q(join(REPO, 'bench/node-floor.ts'))} --host {HOST} --http-port {PORT} --udp-port {PORT}`;
    trackerOpts.push('--tracker', `${FLOOR}=${floor}`);
  }
  const common = ['--port', opt.port, ...(opt['fill-max'] ? ['--prefill-max', opt['fill-max']] : []), ...trackerOpts];
  const load = [
    ...common,
    ...['--rounds', opt.rounds, '--duration', opt.duration, '--warmup', opt.warmup],
    ...(opt.peers ? ['--peers', opt.peers] : []),
    ...(opt.torrents ? ['--torrents', opt.torrents] : []),
    ...opt['bench-args'].split(' ').filter((s) => s !== ''),
  ];
  for (const family of families) {
    const names = family === 'ipv4' ? trackers : trackers.filter((t) => t !== 'opentracker');
    if (names.length === 0 || protos.length === 0) continue;
    if (names.length < trackers.length) console.error(`bench: ${family}: without opentracker (IPv4-only build)`);
    // UDP and keep-alive HTTP in one compare (bench.sh interleaves them per round); connection-per-request alone.
    const groups: [string, string[], Record<string, string>][] = [
      ['keepalive', protos.filter((p) => p !== 'http-close'), {}],
      ['close', protos.includes('http-close') ? ['http'] : [], { BENCH_HTTP_CLOSE: '1' }],
    ];
    for (const [conn, ps, env] of groups) {
      if (ps.length === 0) continue;
      const part = join(parts, `${family}-${conn}.jsonl`);
      const host = FAMILIES[family];
      await benchSh(
        work,
        [
          'compare',
          '--trackers',
          names.join(','),
          '--protos',
          ps.join(','),
          '--host',
          host,
          ...load,
          '--results',
          part,
        ],
        env,
      );
      collect(part, results, { family, conn });
    }
  }
  for (const name of memTrackers) {
    const part = join(parts, `mem-${name}.jsonl`);
    const size = ['--peers', opt['mem-peers'], '--torrents', opt['mem-torrents']];
    await benchSh(work, ['mem', name, ...common, ...size, '--host', '127.0.0.1', '--results', part], {});
    collect(part, results, { family: 'ipv4' });
  }
  const rows = readResults(results);
  console.log(`\n${table(rows)}\nresults: ${results}`);
  const short = rows.filter((r) => typeof r.mem === 'string' && !(Number(r.announces_ok) >= Number(r.peers)));
  if (short.length > 0) fail(`memory fill incomplete for ${short.map((r) => r.mem).join(', ')}: no bytes/peer figure`);
}

// ------------------------------------------------------------------------------------------------ the table
type Row = Record<string, unknown>;
function readResults(file: string): Row[] {
  if (!existsSync(file)) fail(`no such results file: ${file}`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Row);
}

function table(rows: Row[]): string {
  const num = (r: Row, k: string) => (typeof r[k] === 'number' ? (r[k] as number) : Number.NaN);
  const caseOf = (r: Row) => {
    const proto = r.proto === 'http' && r.conn === 'close' ? 'http-close' : String(r.proto);
    return `${proto}/${r.family ?? '?'}`;
  };
  const runs = rows.filter((r) => typeof r.tracker === 'string');
  const groups = new Map<string, Row[]>();
  for (const r of runs) {
    const k = `${caseOf(r)}\t${r.tracker}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  /** Median over rounds of this run's `key` over opentracker's in the same case and round (IPv6: IPv4's). */
  const ratio = (r0: Row, rs: Row[], key: string): string => {
    const otCase = caseOf(r0).replace('/ipv6', '/ipv4');
    const ot = new Map(
      runs.filter((o) => o.tracker === 'opentracker' && caseOf(o) === otCase).map((o) => [o.round, o]),
    );
    const xs = rs.filter((r) => ot.has(r.round)).map((r) => num(r, key) / num(ot.get(r.round)!, key));
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) return 'n/a';
    return `${median(xs).toFixed(3)}${otCase === caseOf(r0) ? '' : '~'}`;
  };
  const count = (x: number) => (x % 1e6 === 0 ? `${x / 1e6}M` : x % 1e3 === 0 ? `${x / 1e3}k` : String(x));
  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '?');
  const head = ['case', 'tracker', 'n', 'ok/s', '(min..max)', 'err', 'ok/CPU-s', 'p50 ms', 'p99 ms', 'peak MiB'];
  const out: string[][] = [[...head, 'B/peer', 'xOTrnd', 'xOTcpu', 'bound']];
  for (const rs of groups.values()) {
    const m = (k: string) => median(rs.map((r) => num(r, k)));
    const rps = rs.map((r) => num(r, 'rps'));
    const bound =
      m('srv_cpu_pct') >= 90
        ? 'tracker'
        : m('cpu_srv_busy_pct') >= 95
          ? 'srv-core'
          : m('cpu_gen_busy_pct') >= 95
            ? 'GEN'
            : '-';
    out.push([
      caseOf(rs[0]),
      String(rs[0].tracker),
      String(rs.length),
      f(m('rps')),
      `(${f(Math.min(...rps))}..${f(Math.max(...rps))})`,
      m('err_rate').toExponential(1),
      f(m('rps_per_srv_cpu_s')),
      f(m('lat_us_p50') / 1000, 2),
      f(m('lat_us_p99') / 1000, 2),
      f(m('srv_hwm_kb') / 1024, 1),
      '-',
      ratio(rs[0], rs, 'rps'),
      ratio(rs[0], rs, 'rps_per_srv_cpu_s'),
      bound,
    ]);
  }
  const mems = rows.filter((r) => typeof r.mem === 'string');
  const filled = (r: Row) => num(r, 'announces_ok') >= num(r, 'peers');
  const bytesPerPeer = (r: Row | undefined) => (r && filled(r) ? num(r, 'bytes_per_peer') : Number.NaN);
  const otBytes = bytesPerPeer(mems.find((r) => r.mem === 'opentracker'));
  const notes: string[] = [];
  for (const r of mems) {
    const label = `mem ${count(num(r, 'peers'))}/${count(num(r, 'torrents'))}`;
    const x = bytesPerPeer(r) / otBytes;
    const dash = Array(6).fill('-');
    const bpp = filled(r) ? f(bytesPerPeer(r), 1) : 'n/a';
    const hwm = f(num(r, 'hwm_kb') / 1024, 1);
    out.push([label, String(r.mem), '1', ...dash, hwm, bpp, Number.isFinite(x) ? x.toFixed(3) : 'n/a', '-', '-']);
    notes.push(
      `${label} ${r.mem}: ${num(r, 'announces_ok')} of ${num(r, 'peers')} announces answered in ${r.fill_s} s; ` +
        `RSS ${f(num(r, 'rss_idle_kb') / 1024, 1)} MiB idle -> ${f(num(r, 'rss_after_kb') / 1024, 1)} MiB` +
        (filled(r) ? '' : '  <-- FILL INCOMPLETE: no bytes/peer figure'),
    );
  }
  const widths = out[0].map((_, i) => Math.max(...out.map((row) => row[i].length)));
  const text = out.map((row) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  return [
    ...text,
    '',
    'ok/s: valid responses per second, median of n rounds (min..max); err: failed or timed-out share; ok/CPU-s: ok',
    'responses per tracker CPU-second; p50/p99: latency at 128 in flight (queueing, not service time; HTTP: without',
    'connect); peak MiB: tracker VmHWM; B/peer: (RSS after - idle) / peers, mem rows only (their peak MiB is VmHWM).',
    'xOTrnd: median over rounds of ok/s over opentracker ok/s in the same case and round (mem rows: B/peer over',
    "opentracker's); xOTcpu: the same for ok/CPU-s; ~: IPv6 row, ratio to opentracker's IPv4 figure of the same round",
    'number, not the same moment (its Debian build is IPv4-only); bound: tracker = tracker process CPU >= 90 %, else',
    "srv-core = the tracker's core >= 95 % busy (kernel network work counts there), else GEN = generator core >= 95 %.",
    'opentracker closes every HTTP connection (no keep-alive), so its http and http-close rows are the same workload.',
    ...notes,
  ].join('\n');
}

await main();
