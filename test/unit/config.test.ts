import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Parsed, parseArgs, UsageError } from '../../src/config/cli.ts';
import { type Config, defaultConfig, listeners } from '../../src/config/config.ts';
import { applyConfigFile } from '../../src/config/opentracker-conf.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'swarmd-config-'));
let files = 0;
function confFile(text: string): string {
  const file = path.join(dir, `c${files++}.conf`);
  writeFileSync(file, text);
  return file;
}

function run(argv: string[]): Extract<Parsed, { kind: 'run' }> {
  const parsed = parseArgs(argv);
  assert.equal(parsed.kind, 'run');
  return parsed as Extract<Parsed, { kind: 'run' }>;
}

const noLong = () => 'no long flags here';

test('short flags bind in order: each -p and -P at the -i before it', () => {
  const { config } = run(['-i', '127.0.0.1', '-p', '7001', '-P', '7002', '-i', '::1', '-p', '7003', '-P', '7004']);
  assert.deepEqual(config.listen, [
    { protocol: 'http', host: '127.0.0.1', port: 7001 },
    { protocol: 'udp', host: '127.0.0.1', port: 7002 },
    { protocol: 'http', host: '::1', port: 7003 },
    { protocol: 'udp', host: '::1', port: 7004 },
  ]);
  assert.deepEqual(
    listeners(config).map((l) => `${l.protocol} ${l.host} ${l.port}`),
    ['http 127.0.0.1 7001', 'udp 127.0.0.1 7002', 'http ::1 7003', 'udp ::1 7004'],
  );
});

test('-p without -i listens on every address; nothing bound listens on 6969 at the last -i', () => {
  const any = listeners(run(['-p', '7001']).config);
  assert.deepEqual(
    any.map((l) => `${l.host} ${l.optional}`),
    ['0.0.0.0 false', ':: true'],
  );
  const last = listeners(run(['-i', '10.0.0.1', '-i', '127.0.0.1']).config);
  assert.deepEqual(
    last.map((l) => `${l.protocol} ${l.host} ${l.port}`),
    ['http 127.0.0.1 6969', 'udp 127.0.0.1 6969'],
  );
});

test('getopt forms: an attached value, a cluster, -v and -h', () => {
  assert.deepEqual(run(['-p7001']).config.listen, [{ protocol: 'http', host: '', port: 7001 }]);
  assert.equal(parseArgs(['-v']).kind, 'version');
  assert.equal(parseArgs(['--version']).kind, 'version');
  assert.equal(parseArgs(['-h']).kind, 'help');
  assert.equal(parseArgs(['-p', '7001', '-h']).kind, 'help');
  const { config } = run(['-w', 'list.txt', '-r', 'http://example.com/', '-d', '/srv', '-u', 'nobody', '-l', 'dump']);
  assert.equal(config.whitelist, 'list.txt');
  assert.equal(config.redirectUrl, 'http://example.com/');
  assert.equal(config.rootDir, '/srv');
  assert.equal(config.user, 'nobody');
  assert.equal(config.statedump, 'dump');
});

test('-A blesses a network with every right', () => {
  const { config } = run(['-A', '10.0.0.0/8', '-A', '::1']);
  assert.deepEqual(config.statsNetworks, ['10.0.0.0/8', '::1']);
  assert.deepEqual(config.proxyNetworks, ['10.0.0.0/8', '::1']);
  assert.deepEqual(config.livesyncNodes, ['10.0.0.0/8', '::1']);
  assert.deepEqual(config.rateLimitExempt, ['10.0.0.0/8', '::1']);
});

test("--rate-limit-exempt: networks, or 'none'; no other list takes 'none'", () => {
  assert.deepEqual(run([]).config.rateLimitExempt, []);
  assert.deepEqual(run(['--rate-limit-exempt', '192.0.2.0/24']).config.rateLimitExempt, ['192.0.2.0/24']);
  assert.deepEqual(run(['--rate-limit-exempt', 'none']).config.rateLimitExempt, ['none']);
  assert.throws(() => parseArgs(['--rate-limit-exempt', 'nobody']), UsageError);
  assert.throws(() => parseArgs(['--stats-allow', 'none']), UsageError);
});

test('bad short flags are usage errors naming the flag', () => {
  const refused = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parseArgs(argv),
      (err: unknown) => err instanceof UsageError && pattern.test(err.message),
    );
  refused(['-i', 'nowhere'], /^-i: 'nowhere' is not an IP address/);
  refused(['-p', '70000'], /^-p: '70000' is not a port/);
  refused(['-P'], /^-P needs a value/);
  refused(['-x'], /unknown option -x/);
  refused(['-A', '10.0.0.0/33'], /-A\/--admin: '\/33' is not a prefix length/);
  refused(['-p', '7001', '--http-port', '7002'], /cannot be mixed/);
  refused(['-f', path.join(dir, 'missing.conf')], /cannot read config file .*missing\.conf: ENOENT/);
});

test('a config file applies where -f stands, between the short flags around it', () => {
  const file = confFile('listen.tcp 127.0.0.1:7010\n');
  const { config } = run(['-i', '127.0.0.1', '-p', '7001', '-f', file, '-P', '7002']);
  assert.deepEqual(
    config.listen.map((l) => `${l.protocol} ${l.port}`),
    ['http 7001', 'http 7010', 'udp 7002'],
  );
});

test('every key of opentracker.conf is understood', () => {
  const file = confFile(
    [
      '# comment',
      '   # indented comment',
      '',
      'listen.tcp_udp 0.0.0.0',
      'listen.tcp_udp [::1]:7001',
      'listen.tcp 127.0.0.1:7002',
      'listen.udp 127.0.0.1:7003  ',
      'listen.udp.workers 4',
      'access.whitelist /etc/opentracker/whitelist.txt',
      'access.blacklist black.txt',
      'access.fifo_add /run/add.fifo',
      'access.fifo_delete /run/delete.fifo',
      'access.stats 192.168.0.0/16',
      'access.stats 127.0.0.1',
      'access.stats_path /ot-stats',
      'access.proxy 10.0.0.1',
      'tracker.rootdir /etc/opentracker',
      'tracker.user _opentracker',
      'tracker.redirect_url https://example.com/tracker',
      'livesync.cluster.listen 192.168.1.2:9696',
      'livesync.cluster.node_ip 192.168.1.3',
      'batchsync.cluster.admin_ip 10.1.1.1',
      'swarmd.full-scrape yes',
      'swarmd.interval 900',
    ].join('\r\n'),
  );
  const { config, problems } = run(['-f', file]);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    config.listen.map((l) => `${l.protocol} ${l.host} ${l.port}`),
    [
      'http 0.0.0.0 6969',
      'udp 0.0.0.0 6969',
      'http ::1 7001',
      'udp ::1 7001',
      'http 127.0.0.1 7002',
      'udp 127.0.0.1 7003',
    ],
  );
  assert.equal(config.whitelist, '/etc/opentracker/whitelist.txt');
  assert.equal(config.blacklist, 'black.txt');
  assert.equal(config.fifoAdd, '/run/add.fifo');
  assert.equal(config.fifoDelete, '/run/delete.fifo');
  assert.deepEqual(config.statsNetworks, ['192.168.0.0/16', '127.0.0.1']);
  assert.equal(config.statsPath, 'ot-stats');
  assert.deepEqual(config.proxyNetworks, ['10.0.0.1']);
  assert.equal(config.rootDir, '/etc/opentracker');
  assert.equal(config.user, '_opentracker');
  assert.equal(config.redirectUrl, 'https://example.com/tracker');
  assert.equal(config.livesyncListen, '192.168.1.2:9696');
  assert.deepEqual(config.livesyncNodes, ['192.168.1.3']);
  assert.equal(config.fullScrape, true);
  assert.equal(config.interval, 900);
});

test('Debian’s shipped opentracker.conf loads without a problem', () => {
  const debian = '/etc/opentracker/opentracker.conf';
  let text: string;
  try {
    text = readFileSync(debian, 'latin1');
  } catch {
    return; // not installed here (CI installs it)
  }
  const config = defaultConfig();
  assert.deepEqual(applyConfigFile(debian, text, config, noLong), []);
  assert.equal(config.whitelist, '/etc/opentracker/whitelist.txt');
});

test('bad lines are reported with file, line and reason, and the rest still applies', () => {
  const file = confFile(
    [
      'listen.tcp 127.0.0.1:7001',
      'no.such.key 1',
      'listen.tcp 999.1.1.1',
      'listen.udp [::1',
      'access.stats 10.0.0.0/40',
      'access.proxy',
      'swarmd.interval soon',
      'swarmd.nonsense 1',
      'tracker.redirect_url has space',
      `access.whitelist ${'x'.repeat(600)}`,
      'listen.udp 127.0.0.1:7002',
    ].join('\n'),
  );
  const { config, problems } = run(['-f', file]);
  assert.deepEqual(
    problems.map((p) => [p.file, p.line]),
    [2, 3, 4, 5, 6, 7, 8, 9, 10].map((line) => [file, line]),
  );
  assert.match(problems[0].reason, /unknown key 'no\.such\.key'/);
  assert.match(problems[1].reason, /^listen\.tcp: '999\.1\.1\.1' is not an address/);
  assert.match(problems[2].reason, /'\[' without '\]'/);
  assert.match(problems[3].reason, /prefix length/);
  assert.match(problems[4].reason, /missing value/);
  assert.match(problems[5].reason, /whole number/);
  assert.match(problems[6].reason, /unknown option 'nonsense'/);
  assert.match(problems[7].reason, /not a URL/);
  assert.match(problems[8].reason, /longer than 511/);
  assert.deepEqual(
    config.listen.map((l) => `${l.protocol} ${l.port}`),
    ['http 7001', 'udp 7002'],
  );
});

test('property: any text as a config file never throws and every problem names a line of it', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
      const config: Config = defaultConfig();
      const problems = applyConfigFile('any.conf', text, config, noLong);
      const lines = text.split('\n').length;
      for (const p of problems) assert.ok(p.line >= 1 && p.line <= lines && p.reason.length > 0);
    }),
  );
});

test('property: any argument list gives a config, help, version or a UsageError, nothing else', () => {
  const arg = fc.oneof(
    fc.constantFrom('-i', '-p', '-P', '-A', '-w', '-f', '-v', '-h', '--host', '--http-port', '-s', '-l', '-d'),
    fc.constantFrom('127.0.0.1', '::1', '7001', '0', '10.0.0.0/8', 'x', ''),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 8 }), (argv) => {
      try {
        parseArgs(argv);
      } catch (err) {
        assert.ok(err instanceof UsageError, String(err));
      }
    }),
  );
});
