// Command-line flags → Config, in both dialects: seed 001's long flags and opentracker's short ones (getopt, taken
// in order, so `-i ADDR -p PORT` binds where the last -i said, and `-f FILE` applies its lines where it stands).
// One table describes every long flag: the parser, the validation, --help and `swarmd.NAME` config lines read it.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type Config, defaultConfig, listeners } from './config.ts';
import { applyConfigFile, type ConfigProblem } from './opentracker-conf.ts';
import { checkDomain, checkNetwork, domainPort, formatHostPort, parsePort } from './values.ts';

export type { Config } from './config.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * What the command line asks for. `problems`: config file lines that did not apply; `warnings`: settings that work
 * but are likely not what the operator meant (both reported, not fatal).
 */
export type Parsed =
  | { kind: 'run'; config: Config; problems: ConfigProblem[]; warnings: string[] }
  | { kind: 'help' }
  | { kind: 'version' };

type Kind = 'port' | 'seconds' | 'count' | 'text' | 'host' | 'flag' | 'choice' | 'path' | 'network' | 'url' | 'domain';

type ConfigKey = keyof Config;

interface FlagSpec {
  name: string;
  short?: string;
  kind: Kind;
  /** The Config field set; absent for flags handled by name (config file, -A, --version). */
  key?: ConfigKey;
  /** Smallest and largest accepted value, for numbers. */
  range?: [number, number];
  /** Accepted values, for a choice. */
  choices?: readonly string[];
  /** A default listener flag (replaced by named listeners). */
  listener?: boolean;
  /** A network list that takes 'none': no network, rather than the list's default. */
  noneAllowed?: boolean;
  help: string;
}

const FLAGS: FlagSpec[] = [
  {
    name: 'host',
    kind: 'host',
    key: 'hosts',
    listener: true,
    help: 'address to listen on (repeatable); default: every IPv4 and IPv6 address',
  },
  {
    name: 'http-port',
    kind: 'port',
    key: 'httpPort',
    listener: true,
    help: 'HTTP announce and scrape port; 0 disables HTTP',
  },
  { name: 'udp-port', kind: 'port', key: 'udpPort', listener: true, help: 'UDP (BEP 15) port; 0 disables UDP' },
  {
    name: 'https-port',
    kind: 'port',
    key: 'httpsPort',
    help: 'HTTPS announce and scrape port (needs --cert and --key); 0 disables HTTPS',
  },
  { name: 'cert', kind: 'path', key: 'cert', help: 'HTTPS certificate chain, PEM, leaf first (e.g. fullchain.pem)' },
  { name: 'key', kind: 'path', key: 'key', help: "HTTPS certificate's private key, PEM" },
  {
    name: 'redirect-http',
    kind: 'flag',
    key: 'redirectHttp',
    help: 'answer plain HTTP with 301 to https://DOMAIN and the same path and query (needs --https-port)',
  },
  {
    name: 'domain',
    kind: 'domain',
    key: 'domain',
    help: 'name[:port] clients reach the HTTPS port by, for --redirect-http (the port unless it is 443)',
  },
  {
    name: 'ipv6',
    kind: 'flag',
    key: 'ipv6',
    listener: true,
    help: 'with --host: also listen on every IPv6 address (::)',
  },
  {
    name: 'interval',
    kind: 'seconds',
    key: 'interval',
    range: [1, 86400],
    help: 'announce interval sent to clients (±10 % jitter)',
  },
  {
    name: 'min-interval',
    kind: 'seconds',
    key: 'minInterval',
    range: [0, 86400],
    help: 'min interval sent to clients',
  },
  {
    name: 'peer-ttl',
    kind: 'seconds',
    key: 'peerTtl',
    // A peer's last announce is kept in 16 bits of seconds: ages must stay well below 2^16.
    range: [1, 43200],
    help: 'drop a peer after this long without an announce',
  },
  {
    name: 'max-peers',
    kind: 'count',
    key: 'maxPeers',
    range: [1, 5000],
    help: 'most peers in one reply, whatever numwant asks',
  },
  {
    name: 'default-numwant',
    kind: 'count',
    key: 'defaultNumwant',
    range: [0, 5000],
    help: 'peers sent when a client gives no numwant',
  },
  {
    name: 'max-scrape-hashes',
    kind: 'count',
    key: 'maxScrapeHashes',
    range: [1, 1000],
    help: 'most info hashes in one HTTP scrape',
  },
  {
    name: 'full-scrape',
    kind: 'flag',
    key: 'fullScrape',
    help: 'answer a scrape without info_hash with every torrent',
  },
  { name: 'tracker-id', kind: 'text', key: 'trackerId', help: "'tracker id' in announce replies; '' leaves it out" },
  {
    name: 'max-torrents',
    kind: 'count',
    key: 'maxTorrents',
    range: [0, 100_000_000],
    help: 'most torrents held; an announce that would start another is refused; 0: no cap',
  },
  {
    name: 'max-peers-per-torrent',
    kind: 'count',
    key: 'maxPeersPerTorrent',
    range: [0, 100_000_000],
    help: 'most peers one torrent holds; a new peer past it gets peers but is not stored; 0: no cap',
  },
  {
    name: 'max-memory',
    kind: 'count',
    key: 'maxMemory',
    range: [0, 16_777_216],
    help: 'resident memory budget in MiB: near it, new torrents and peers are refused until it frees; 0: none',
  },
  {
    name: 'max-connections',
    kind: 'count',
    key: 'maxConnections',
    range: [0, 10_000_000],
    help: 'open HTTP(S) connections per listener and worker; past it new ones are closed at once; 0: no cap',
  },
  {
    name: 'repeat-cache',
    kind: 'count',
    key: 'repeatCache',
    range: [0, 1_048_576],
    help: 'peers whose reply is kept when they re-announce before min interval, and sent again without touching the swarm; 0: none',
  },
  {
    name: 'announce-rate',
    kind: 'count',
    key: 'announceRate',
    range: [0, 1_000_000],
    help: 'announces per second per address (IPv4, or IPv6 /64), beyond --announce-burst; 0: no limit',
  },
  {
    name: 'announce-burst',
    kind: 'count',
    key: 'announceBurst',
    range: [1, 1_000_000],
    help: 'announces an address may make at once before --announce-rate applies',
  },
  {
    name: 'scrape-rate',
    kind: 'count',
    key: 'scrapeRate',
    range: [0, 1_000_000],
    help: 'scrapes per second per address; 0: no limit',
  },
  {
    name: 'scrape-burst',
    kind: 'count',
    key: 'scrapeBurst',
    range: [1, 1_000_000],
    help: 'scrapes an address may make at once before --scrape-rate applies',
  },
  {
    name: 'rate-limit-exempt',
    kind: 'network',
    key: 'rateLimitExempt',
    noneAllowed: true,
    help: "network (CIDR) never rate-limited nor answered from the repeat cache (repeatable; 'none': no network); default: loopback",
  },
  {
    name: 'max-header-size',
    kind: 'count',
    key: 'maxHeaderBytes',
    // The native HTTP path buffers at most 8 KiB per connection.
    range: [1024, 8192],
    help: 'largest HTTP request head, in bytes; a larger one gets 431 and the connection closes',
  },
  {
    name: 'header-timeout',
    kind: 'seconds',
    key: 'headerTimeout',
    range: [1, 3600],
    help: 'time to send a whole request head (from the accept for the first); then the connection closes',
  },
  {
    name: 'idle-timeout',
    kind: 'seconds',
    key: 'idleTimeout',
    range: [1, 3600],
    help: 'an idle keep-alive connection, or one that does not read its replies, closes after this',
  },
  {
    name: 'handshake-timeout',
    kind: 'seconds',
    key: 'handshakeTimeout',
    range: [1, 3600],
    help: 'time a client has to finish its TLS handshake',
  },
  {
    name: 'workers',
    kind: 'count',
    key: 'workers',
    range: [0, 256],
    help: 'worker threads answering requests, each with a copy of the swarm; 0: one per core',
  },
  {
    name: 'udp-io',
    kind: 'choice',
    key: 'udpIo',
    choices: ['auto', 'native', 'dgram'],
    help: 'UDP I/O: native (batched recvmmsg/sendmmsg addon), dgram (node:dgram), auto (native if it loaded)',
  },
  {
    name: 'http-io',
    kind: 'choice',
    key: 'httpIo',
    choices: ['auto', 'native', 'net'],
    help: 'plain HTTP I/O: native (batched epoll addon), net (node:net), auto (native if it loaded)',
  },
  { name: 'config', short: 'f', kind: 'path', help: 'read an opentracker config file here (repeatable; see docs)' },
  { name: 'whitelist', short: 'w', kind: 'path', key: 'whitelist', help: 'serve only the info hashes in this file' },
  { name: 'blacklist', short: 'b', kind: 'path', key: 'blacklist', help: 'refuse the info hashes in this file' },
  {
    name: 'allowed-dir',
    kind: 'path',
    key: 'allowedDir',
    help: 'serve only torrents whose .torrent file is in this directory',
  },
  {
    name: 'parse-dir-interval',
    kind: 'seconds',
    key: 'parseDirInterval',
    range: [1, 86400],
    help: 'rescan --allowed-dir this often',
  },
  { name: 'stats-path', kind: 'text', key: 'statsPath', help: 'path of the opentracker-style stats page' },
  {
    name: 'stats-allow',
    kind: 'network',
    key: 'statsNetworks',
    help: 'network (CIDR) allowed /stats and /metrics (repeatable); default: loopback only',
  },
  {
    name: 'trusted-proxy',
    kind: 'network',
    key: 'proxyNetworks',
    help: 'reverse proxy (CIDR) whose X-Forwarded-For, X-Real-IP or Forwarded header is believed (repeatable)',
  },
  {
    name: 'admin',
    short: 'A',
    kind: 'network',
    help: 'network (CIDR) given every right: stats, trusted proxy, live-sync node, no rate limit (repeatable)',
  },
  { name: 'ip-from-query', kind: 'flag', key: 'ipFromQuery', help: "take an announce's ip= parameter as its address" },
  { name: 'redirect-url', short: 'r', kind: 'url', key: 'redirectUrl', help: "redirect 'GET /' here (302)" },
  { name: 'rootdir', short: 'd', kind: 'path', key: 'rootDir', help: 'change to this directory after binding' },
  {
    name: 'user',
    short: 'u',
    kind: 'text',
    key: 'user',
    help: 'run as this user after binding (when started as root)',
  },
  { name: 'statedump', short: 'l', kind: 'path', key: 'statedump', help: 'load an opentracker statedump at start' },
  {
    name: 'state-file',
    kind: 'path',
    key: 'stateFile',
    help: 'keep torrents and peers in this file: read at start, written every --state-interval and at exit',
  },
  {
    name: 'state-interval',
    kind: 'seconds',
    key: 'stateInterval',
    range: [1, 86400],
    help: 'how often --state-file is written',
  },
  { name: 'verbose', kind: 'flag', key: 'verbose', help: 'log at debug level' },
  {
    name: 'log-format',
    kind: 'choice',
    key: 'logFormat',
    choices: ['json', 'pretty'],
    help: 'logs on standard output: one JSON object per line (json) or one readable line per event (pretty)',
  },
  { name: 'version', short: 'v', kind: 'flag', help: 'print the version and exit' },
];

/** opentracker's short options that take an argument and exist only as short ones. */
const SHORT_ONLY = new Set(['i', 'p', 'P', 's']);

/** The state of a parse: the config so far, and -i's address for the -p, -P and -s that follow it. */
interface ParseState {
  config: Config;
  problems: ConfigProblem[];
  address: string;
  longListener: boolean;
  /** Config files being read, to refuse one that includes itself. */
  files: string[];
}

/** Parses `argv` (without node and script). Throws UsageError with a one-line reason. */
export function parseArgs(argv: readonly string[]): Parsed {
  const state: ParseState = { config: defaultConfig(), problems: [], address: '', longListener: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (name === 'help') return { kind: 'help' };
      const spec = FLAGS.find((f) => f.name === name);
      if (spec === undefined) throw new UsageError(`unknown option --${name} (see --help)`);
      if (spec.kind === 'flag') {
        if (eq >= 0) throw new UsageError(`--${name} takes no value`);
        if (spec.name === 'version') return { kind: 'version' };
        applyFlag(state, spec, '');
        continue;
      }
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      applyFlag(state, spec, value);
      continue;
    }
    if (!/^-[a-zA-Z]/.test(arg)) throw new UsageError(`unexpected argument '${arg}' (see --help)`);
    // getopt: a cluster of options without values (-hv), the last of which may take the rest or the next argument.
    for (let k = 1; k < arg.length; k++) {
      const letter = arg[k];
      if (letter === 'h') return { kind: 'help' };
      const spec = FLAGS.find((f) => f.short === letter);
      if (spec === undefined && !SHORT_ONLY.has(letter)) throw new UsageError(`unknown option -${letter} (see --help)`);
      if (spec?.kind === 'flag') {
        if (spec.name === 'version') return { kind: 'version' };
        applyFlag(state, spec, '');
        continue;
      }
      const value = k + 1 < arg.length ? arg.slice(k + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`-${letter} needs a value`);
      if (spec === undefined) applyShort(state, letter, value);
      else applyFlag(state, spec, value);
      break;
    }
  }
  const config = finish(state);
  return { kind: 'run', config, problems: state.problems, warnings: warnings(config) };
}

/** -i, -p, -P and -s: opentracker binds as it reads them. */
function applyShort(state: ParseState, letter: string, value: string): void {
  const { config } = state;
  if (letter === 'i') {
    if (isIP(value) === 0) throw new UsageError(`-i: '${value}' is not an IP address`);
    state.address = value;
    return;
  }
  const port = parsePort(value);
  if (typeof port === 'string') throw new UsageError(`-${letter}: ${port}`);
  if (letter === 's') {
    const host = state.address === '' ? '0.0.0.0' : state.address;
    config.livesyncListen = formatHostPort(host, port);
    return;
  }
  config.listen.push({ protocol: letter === 'p' ? 'http' : 'udp', host: state.address, port });
}

function applyFlag(state: ParseState, spec: FlagSpec, value: string): void {
  if (spec.name === 'config') {
    readConfigFile(state, value);
    return;
  }
  const reason = applyOption(state, spec, value);
  if (reason !== null)
    throw new UsageError(`${spec.short ? `-${spec.short}/--${spec.name}` : `--${spec.name}`}: ${reason}`);
}

function readConfigFile(state: ParseState, file: string): void {
  if (state.files.includes(file)) throw new UsageError(`config file ${file} includes itself`);
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    // opentracker only warns and runs on its defaults; a tracker that silently drops its access list is worse.
    throw new UsageError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  state.files.push(file);
  const long = (name: string, value: string): string | null => {
    const spec = FLAGS.find((f) => f.name === name);
    if (spec === undefined || spec.name === 'version' || spec.name === 'config') return `unknown option '${name}'`;
    return applyOption(state, spec, value);
  };
  state.problems.push(...applyConfigFile(file, text, state.config, long));
  state.files.pop();
}

/** Applies a long option, from the command line or a `swarmd.NAME` line; returns a reason when it does not apply. */
function applyOption(state: ParseState, spec: FlagSpec, value: string): string | null {
  if (spec.listener) state.longListener = true;
  return setValue(state.config, spec, value);
}

/** Sets `spec`'s field from `value`; returns a reason when the value is not acceptable. */
function setValue(config: Config, spec: FlagSpec, value: string): string | null {
  const key = spec.key as ConfigKey;
  switch (spec.kind) {
    case 'flag':
      // No value on the command line; yes or no on a config file's `swarmd.NAME` line.
      if (!/^(|yes|no|true|false|on|off|1|0)$/.test(value)) return `'${value}' is not yes or no`;
      (config[key] as boolean) = !/^(no|false|off|0)$/.test(value);
      return null;
    case 'host':
      // '' (as seed 001's default) means every address.
      if (value !== '' && isIP(value) === 0) return `'${value}' is not an IP address`;
      if (value !== '') config.hosts.push(value);
      return null;
    case 'choice':
      if (!spec.choices?.includes(value)) return `expected one of ${spec.choices?.join(', ')}, got '${value}'`;
      (config[key] as string) = value;
      return null;
    case 'text':
      if (!/^[\x20-\x7e]{0,64}$/.test(value)) return 'at most 64 printable ASCII characters';
      (config[key] as string) = value;
      return null;
    case 'path':
      if (value === '' || value.includes('\0')) return 'expected a file or directory name';
      (config[key] as string) = value;
      return null;
    case 'domain': {
      const reason = checkDomain(value);
      if (reason !== null) return reason;
      (config[key] as string) = value;
      return null;
    }
    case 'url':
      if (!/^[\x21-\x7e]{1,2048}$/.test(value)) return `'${value}' is not a URL (no spaces or control characters)`;
      (config[key] as string) = value;
      return null;
    case 'network': {
      if (value === 'none' && spec.noneAllowed) {
        (config[key] as string[]).push(value);
        return null;
      }
      const checked = checkNetwork(value);
      if (typeof checked !== 'string') return checked.error;
      // -A (no field of its own) gives every right a network can have.
      const lists =
        spec.key === undefined
          ? (['statsNetworks', 'proxyNetworks', 'livesyncNodes', 'rateLimitExempt'] as const)
          : [key];
      for (const list of lists) (config[list] as string[]).push(checked);
      return null;
    }
    default: {
      const [lo, hi] = spec.kind === 'port' ? [0, 65535] : (spec.range ?? [0, Number.MAX_SAFE_INTEGER]);
      if (!/^\d+$/.test(value) || Number(value) < lo || Number(value) > hi) {
        return `expected a whole number from ${lo} to ${hi}, got '${value}'`;
      }
      (config[key] as number) = Number(value);
      return null;
    }
  }
}

/** Checks what only the whole command line can tell. */
function finish(state: ParseState): Config {
  const { config } = state;
  if (config.listen.length > 0 && state.longListener) {
    throw new UsageError('--host, --http-port, --udp-port and --ipv6 cannot be mixed with -p, -P or listen.* lines');
  }
  // opentracker with nothing bound listens on TCP and UDP 6969 at the last -i address.
  if (config.listen.length === 0 && state.address !== '' && !config.hosts.includes(state.address)) {
    config.hosts.push(state.address);
  }
  if (config.minInterval > config.interval) {
    throw new UsageError(`--min-interval (${config.minInterval}) must not exceed --interval (${config.interval})`);
  }
  if (listeners(config).length === 0) throw new UsageError('every listener is disabled');
  if (config.httpsPort !== 0 && (config.cert === '' || config.key === '')) {
    throw new UsageError('--https-port needs --cert and --key');
  }
  if ((config.cert !== '' || config.key !== '') && config.httpsPort === 0) {
    throw new UsageError('--cert and --key need --https-port');
  }
  if (config.redirectHttp && config.httpsPort === 0) {
    throw new UsageError('--redirect-http needs HTTPS: give --https-port, --cert and --key');
  }
  if (config.redirectHttp && config.domain === '') {
    throw new UsageError('--redirect-http needs --domain: the name (and port, unless 443) clients reach HTTPS by');
  }
  if (config.statsPath.replace(/^\/+/, '') === '' || /[?#\s]/.test(config.statsPath)) {
    throw new UsageError(`--stats-path: '${config.statsPath}' is not a usable path`);
  }
  config.statsPath = config.statsPath.replace(/^\/+/, '');
  return config;
}

/** What start-up warns about: settings that are allowed but probably mistaken, or not built yet. */
function warnings(config: Config): string[] {
  const out: string[] = [];
  if (config.redirectHttp && config.httpsPort !== 443 && domainPort(config.domain) === null) {
    out.push(
      `--domain ${config.domain} has no port but HTTPS listens on ${config.httpsPort}: redirected clients will ` +
        `try port 443 (give --domain ${config.domain}:${config.httpsPort})`,
    );
  }
  if (config.livesyncListen !== '') out.push('live sync (livesync.*, -s) is not supported yet; ignored');
  return out;
}

export function helpText(): string {
  const lines = [
    'swarmd — a BitTorrent tracker (HTTP and UDP announce and scrape, IPv4 and IPv6)',
    '',
    'Usage: swarmd [options]',
    '',
    'Options:',
  ];
  const defaults = defaultConfig();
  for (const f of FLAGS) {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.kind === 'flag' ? '' : ' VALUE'}`;
    const def = f.key === undefined ? '' : defaults[f.key];
    const shown = Array.isArray(def) || def === '' || f.kind === 'flag' ? '' : ` (default: ${def})`;
    lines.push(`  ${left.padEnd(30)} ${f.help}${shown}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(30)} show this help`);
  lines.push(
    '',
    "opentracker's short options, taken in order:",
    `  ${'-i ADDR'.padEnd(30)} the address of the -p, -P and -s options that follow`,
    `  ${'-p PORT'.padEnd(30)} listen for HTTP on PORT at the last -i address (repeatable)`,
    `  ${'-P PORT'.padEnd(30)} listen for UDP on PORT at the last -i address (repeatable)`,
    `  ${'-s PORT'.padEnd(30)} live-sync port at the last -i address`,
    'Without -p or -P (or listen.* lines), swarmd listens on --http-port and --udp-port at --host and the last -i.',
  );
  return `${lines.join('\n')}\n`;
}
