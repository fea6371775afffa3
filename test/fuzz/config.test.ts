// Fuzz target: the command line and opentracker's config file, as `swarmd` reads them at start. Argument lists mix
// every flag --help lists (long, `--name=value`, short, getopt clusters, opentracker's -i/-p/-P/-s) with values at and
// past their bounds, empty, NUL, huge, of the wrong kind; `-f` points at config files of real keys whose lines are
// mutated (CR, NUL, tabs, lines past 511 bytes, stray `#`). parseArgs must give help, version, a run, or a UsageError —
// nothing else — and a run's Config must be one serve() can start from: every number whole, ports in range, at least
// one listener, networks that NetworkList takes, HTTPS and redirect settings complete, a usable stats path, plain data
// that crosses to a worker; and every problem it reports must name a line of its file that says something.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { helpText, type Parsed, parseArgs, UsageError } from '../../src/config/cli.ts';
import { type Config, listeners } from '../../src/config/config.ts';
import { NetworkList } from '../../src/protocol/networks.ts';
import { applyEdits, edits, hostile, latin1 } from './mutate.ts';
import { fuzzParameters } from './runs.ts';

/**
 * Every flag --help lists, so that flags added later are fuzzed too: long name, short letter, whether it takes a value,
 * and its default (a value it surely accepts) when --help shows one.
 */
const FLAGS = [...helpText().matchAll(/^ {2}(?:-(\w), )? *--([a-z0-9-]+)( VALUE)?.*?(?:\(default: ([^)]*)\))?$/gm)].map(
  (m) => ({ short: m[1] ?? null, name: m[2], takesValue: m[3] !== undefined, default: m[4] ?? null }),
);

const VALUES = [
  '',
  '0',
  '1',
  '59',
  '60',
  '1800',
  '43200',
  '43201',
  '65535',
  '65536',
  '-1',
  '+1',
  '1e3',
  '0x50',
  ' 80',
  '80 ',
  '007',
  '4294967296',
  '18446744073709551616',
  '127.0.0.1',
  '0.0.0.0',
  '::1',
  '::',
  '[::1]:6969',
  '127.0.0.1:6969',
  '10.0.0.0/8',
  '10.0.0.0/33',
  '::/0',
  'fe80::1%eth0',
  '/stats',
  '/',
  'st ats',
  'stats?x',
  'yes',
  'no',
  'auto',
  'native',
  'dgram',
  'net',
  'json',
  'pretty',
  'tracker.example',
  'tracker.example:8443',
  'https://tracker.example/',
  'a\0b',
  'line\nbreak',
  'x'.repeat(70),
  'x'.repeat(3000),
  '\x7f\x80\xff',
];

const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);

/** A value for `flag`: its default half the time (so that whole argument lists get accepted), else any. */
const valueFor = (flag: (typeof FLAGS)[number]): fc.Arbitrary<string> =>
  flag.default === null ? value : fc.oneof(fc.constant(flag.default), value);

const flag = fc.constantFrom(...FLAGS).chain((f) => fc.tuple(fc.constant(f), valueFor(f)));

/** Config-file lines: every key opentracker.conf has, and swarmd.NAME for every long flag. */
const CONFIG_KEYS = [
  'listen.tcp_udp',
  'listen.tcp',
  'listen.udp',
  'listen.udp.workers',
  'access.whitelist',
  'access.blacklist',
  'access.fifo_add',
  'access.fifo_delete',
  'access.stats',
  'access.stats_path',
  'access.proxy',
  'tracker.rootdir',
  'tracker.user',
  'tracker.redirect_url',
  'livesync.cluster.listen',
  'livesync.cluster.node_ip',
  'batchsync.cluster.admin_ip',
  ...FLAGS.map((f) => `swarmd.${f.name}`),
  'unknown.key',
];

const configLine = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...CONFIG_KEYS), fc.constantFrom(' ', '\t', '  \t'), value)
      .map((p) => p.join('')),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '# a comment', '   # indented comment', '\t', '\r', 'x'.repeat(600)) },
);

const CONFIG_TOKENS = ['\r', '\n', '\0', '#', '\t', ' ', 'listen.tcp ', 'swarmd.'];

const configText = fc
  .tuple(fc.array(configLine, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), edits(CONFIG_TOKENS))
  .map(([lines, eol, e]) => applyEdits(latin1(lines.join(eol)), e));

/** One argument, or a flag and its value as two; `-f` comes with a config file, written before the parse. */
type Arg = { args: string[] } | { file: Buffer };

const arg: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 3, arbitrary: flag.map(([f, v]) => ({ args: f.takesValue ? [`--${f.name}`, v] : [`--${f.name}`] })) },
  { weight: 2, arbitrary: flag.map(([f, v]) => ({ args: [`--${f.name}=${v}`] })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...FLAGS.flatMap((f) => f.short ?? []), 'i', 'p', 'P', 's'), value, fc.boolean())
      .map(([letter, v, attached]) => ({ args: attached ? [`-${letter}${v}`] : [`-${letter}`, v] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('-vw', '-hv', '-wv', '-Ax', '--', '-', '---help', '--http-port=', 'stray')
      .map((a) => ({ args: [a] })),
  },
  // Settings that only work together, so that HTTPS and the redirect are reached at all.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        ['--https-port', '8443', '--cert', 'chain.pem', '--key', 'key.pem'],
        ['--https-port=443', '--cert=c', '--key=k', '--redirect-http', '--domain', 'tracker.example'],
        ['--redirect-http', '--domain=tracker.example:8443'],
      )
      .map((args) => ({ args: [...args] })),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((a) => ({ args: [a] })) },
  {
    weight: 1,
    arbitrary: fc.oneof({ weight: 3, arbitrary: configText }, hostile(CONFIG_TOKENS)).map((file) => ({ file })),
  },
);

const dir = mkdtempSync(join(tmpdir(), 'swarmd-fuzz-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The argument list, with each config file written under a name of its own; and the files' texts by name. */
function argv(args: readonly Arg[]): { argv: string[]; files: Map<string, string> } {
  const out: string[] = [];
  const files = new Map<string, string>();
  for (const a of args) {
    if ('args' in a) {
      out.push(...a.args);
      continue;
    }
    const file = join(dir, `${files.size}.conf`);
    writeFileSync(file, a.file);
    files.set(file, a.file.toString('latin1'));
    out.push('-f', file);
  }
  return { argv: out, files };
}

function parse(list: string[]): Parsed | null {
  try {
    return parseArgs(list);
  } catch (err) {
    assert.ok(err instanceof UsageError, `threw ${err}`);
    assert.ok(err.message.length > 0);
    return null;
  }
}

/** What serve() and the workers take for granted of a Config. */
function checkConfig(c: Config): void {
  for (const [key, v] of Object.entries(c)) {
    if (typeof v === 'number') assert.ok(Number.isSafeInteger(v) && v >= 0, `${key} = ${v}`);
  }
  for (const port of [c.httpPort, c.udpPort, c.httpsPort, ...c.listen.map((l) => l.port)]) {
    assert.ok(port >= 0 && port <= 65535, `port ${port}`);
  }
  const opened = listeners(c);
  assert.ok(opened.length > 0, 'no listener');
  for (const l of opened) assert.ok(l.host === '' || isIP(l.host) !== 0, `listener host ${l.host}`);
  for (const host of c.hosts) assert.ok(isIP(host) !== 0, `host ${host}`);
  assert.ok(c.minInterval <= c.interval);
  for (const list of [c.statsNetworks, c.proxyNetworks, c.livesyncNodes]) new NetworkList(list);
  assert.equal(c.httpsPort !== 0, c.cert !== '' && c.key !== '', 'HTTPS without its pair, or a pair without HTTPS');
  if (c.redirectHttp) assert.ok(c.httpsPort !== 0 && c.domain !== '');
  assert.match(c.statsPath, /^[^/?#\s][^?#\s]*$/);
  assert.match(c.trackerId, /^[\x20-\x7e]{0,64}$/);
  assert.ok(!c.redirectUrl.includes('\n') && !c.redirectUrl.includes('\r'), 'a line end in the redirect URL');
  // Workers get the Config by structured clone.
  assert.deepEqual(structuredClone(c), c);
}

test('parseArgs: help, version, a run with a startable Config, or a UsageError; problems name real lines', () => {
  let runs = 0;
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 7 }), (args) => {
      const { argv: list, files } = argv(args);
      const parsed = parse(list);
      if (parsed === null || parsed.kind !== 'run') return;
      runs++;
      checkConfig(parsed.config);
      for (const w of parsed.warnings) assert.ok(typeof w === 'string' && w.length > 0);
      for (const p of parsed.problems) {
        const text = files.get(p.file);
        assert.ok(text !== undefined, `a problem in ${p.file}, which was not given`);
        const lines = text.split('\n');
        assert.ok(p.line >= 1 && p.line <= lines.length, `line ${p.line} of ${lines.length}`);
        // Blank and comment lines as the file format defines them: after leading spaces and tabs.
        const line = lines[p.line - 1].replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
        assert.ok(
          line !== '' && !line.startsWith('#'),
          `a problem on a blank or comment line: ${JSON.stringify(line)}`,
        );
        assert.ok(p.reason.length > 0 && !/[\r\n]/.test(p.reason), `reason ${JSON.stringify(p.reason)}`);
      }
    }),
    fuzzParameters(800, 5),
  );
  assert.ok(runs > 50, `only ${runs} argument lists were accepted`);
});
