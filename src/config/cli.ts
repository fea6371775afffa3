// Command-line flags → Config. One table describes every flag: the parser, the validation and --help all read it.

import { isIP } from 'node:net';

export interface Config {
  /** Addresses to listen on; empty means every IPv4 and IPv6 address. */
  hosts: string[];
  httpPort: number;
  udpPort: number;
  ipv6: boolean;
  interval: number;
  minInterval: number;
  peerTtl: number;
  maxPeers: number;
  defaultNumwant: number;
  maxScrapeHashes: number;
  fullScrape: boolean;
  trackerId: string;
  /** Worker threads answering requests; 0: one per core this process may run on. */
  workers: number;
  udpIo: 'auto' | 'native' | 'dgram';
  httpIo: 'auto' | 'native' | 'net';
  verbose: boolean;
}

export const DEFAULT_CONFIG: Readonly<Config> = {
  hosts: [],
  httpPort: 6969,
  udpPort: 6969,
  ipv6: false,
  interval: 1800,
  minInterval: 60,
  peerTtl: 3600,
  maxPeers: 200,
  defaultNumwant: 50,
  maxScrapeHashes: 5,
  fullScrape: false,
  trackerId: 'swarmd',
  workers: 0,
  udpIo: 'auto',
  httpIo: 'auto',
  verbose: false,
};

export class UsageError extends Error {
  override name = 'UsageError';
}

type Kind = 'port' | 'seconds' | 'count' | 'text' | 'host' | 'flag' | 'choice';

interface FlagSpec {
  name: string;
  short?: string;
  kind: Kind;
  key: keyof Config;
  /** Smallest and largest accepted value, for numbers. */
  range?: [number, number];
  /** Accepted values, for a choice. */
  choices?: readonly string[];
  help: string;
}

const FLAGS: FlagSpec[] = [
  {
    name: 'host',
    kind: 'host',
    key: 'hosts',
    help: 'address to listen on (repeatable); default: every IPv4 and IPv6 address',
  },
  { name: 'http-port', kind: 'port', key: 'httpPort', help: 'HTTP announce and scrape port; 0 disables HTTP' },
  { name: 'udp-port', kind: 'port', key: 'udpPort', help: 'UDP (BEP 15) port; 0 disables UDP' },
  { name: 'ipv6', kind: 'flag', key: 'ipv6', help: 'with --host: also listen on every IPv6 address (::)' },
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
  { name: 'verbose', short: 'v', kind: 'flag', key: 'verbose', help: 'log at debug level' },
];

/** Parses `argv` (without node and script). Throws UsageError with a one-line reason. */
export function parseArgs(argv: readonly string[]): Config | 'help' {
  const config: Config = { ...DEFAULT_CONFIG, hosts: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      const spec = FLAGS.find((f) => f.short === arg[1]);
      if (spec === undefined) throw new UsageError(`unknown option ${arg} (see --help)`);
      name = spec.name;
    } else {
      throw new UsageError(`unexpected argument '${arg}' (see --help)`);
    }
    const spec = FLAGS.find((f) => f.name === name);
    if (spec === undefined) throw new UsageError(`unknown option --${name} (see --help)`);
    if (spec.kind === 'flag') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      (config[spec.key] as boolean) = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    apply(config, spec, value);
  }
  if (config.minInterval > config.interval) {
    throw new UsageError(`--min-interval (${config.minInterval}) must not exceed --interval (${config.interval})`);
  }
  if (config.httpPort === 0 && config.udpPort === 0) throw new UsageError('every listener is disabled');
  return config;
}

function apply(config: Config, spec: FlagSpec, value: string): void {
  const flag = `--${spec.name}`;
  switch (spec.kind) {
    case 'host':
      // '' (as seed 001's default) means every address.
      if (value !== '' && isIP(value) === 0) throw new UsageError(`${flag}: '${value}' is not an IP address`);
      if (value !== '') config.hosts.push(value);
      return;
    case 'choice':
      if (!spec.choices?.includes(value)) {
        throw new UsageError(`${flag}: expected one of ${spec.choices?.join(', ')}, got '${value}'`);
      }
      (config[spec.key] as string) = value;
      return;
    case 'text':
      if (!/^[\x20-\x7e]{0,64}$/.test(value)) throw new UsageError(`${flag}: at most 64 printable ASCII characters`);
      (config[spec.key] as string) = value;
      return;
    default: {
      const [lo, hi] = spec.kind === 'port' ? [0, 65535] : (spec.range ?? [0, Number.MAX_SAFE_INTEGER]);
      if (!/^\d+$/.test(value) || Number(value) < lo || Number(value) > hi) {
        throw new UsageError(`${flag}: expected a whole number from ${lo} to ${hi}, got '${value}'`);
      }
      (config[spec.key] as number) = Number(value);
    }
  }
}

export function helpText(): string {
  const lines = [
    'swarmd — a BitTorrent tracker (HTTP and UDP announce and scrape, IPv4 and IPv6)',
    '',
    'Usage: swarmd [options]',
    '',
    'Options:',
  ];
  for (const f of FLAGS) {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.kind === 'flag' ? '' : ' VALUE'}`;
    const def = DEFAULT_CONFIG[f.key];
    const shown = Array.isArray(def) || f.kind === 'flag' ? '' : ` (default: ${def === '' ? "''" : def})`;
    lines.push(`  ${left.padEnd(30)} ${f.help}${shown}`);
  }
  lines.push(`      ${'--help'.padEnd(26)} show this help`);
  return `${lines.join('\n')}\n`;
}
