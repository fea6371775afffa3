// opentracker's config file (`-f FILE`): one `key value` per line, `#` comments, read in order so that listen lines
// and short flags around `-f` keep their order. Every key of opentracker.conf is understood; a line swarmd cannot
// use is reported with the file, the line and the reason, and the rest of the file still applies (as opentracker
// does), so one stray line does not take a tracker down.

import type { Config } from './config.ts';
import { checkNetwork, formatHostPort, OPENTRACKER_PORT, parseHostPort } from './values.ts';

export interface ConfigProblem {
  file: string;
  line: number;
  reason: string;
}

/** opentracker reads lines of at most 511 bytes; longer ones are not a config line of any key. */
const MAX_LINE = 511;

/** Applies a long flag (`swarmd.NAME value` lines); returns a reason when it does not apply. */
export type LongFlagSetter = (name: string, value: string) => string | null;

type Setter = (config: Config, value: string) => string | null;

const listenOn =
  (protocols: ('http' | 'udp')[]): Setter =>
  (config, value) => {
    const hp = parseHostPort(value, OPENTRACKER_PORT);
    if (typeof hp === 'string') return hp;
    for (const protocol of protocols) config.listen.push({ protocol, host: hp.host, port: hp.port });
    return null;
  };

const text =
  (key: 'whitelist' | 'blacklist' | 'fifoAdd' | 'fifoDelete' | 'rootDir' | 'user' | 'redirectUrl'): Setter =>
  (config, value) => {
    config[key] = value;
    return null;
  };

const network =
  (key: 'statsNetworks' | 'proxyNetworks' | 'livesyncNodes'): Setter =>
  (config, value) => {
    const checked = checkNetwork(value);
    if (typeof checked !== 'string') return checked.error;
    config[key].push(checked);
    return null;
  };

const KEYS: Record<string, Setter> = {
  'listen.tcp_udp': listenOn(['http', 'udp']),
  'listen.tcp': listenOn(['http']),
  'listen.udp': listenOn(['udp']),
  // opentracker's blocking UDP threads; every swarmd worker serves every socket (--workers), so the count is moot.
  'listen.udp.workers': (_config, value) => (/^\d+$/.test(value) ? null : `'${value}' is not a number`),
  'access.whitelist': text('whitelist'),
  'access.blacklist': text('blacklist'),
  'access.fifo_add': text('fifoAdd'),
  'access.fifo_delete': text('fifoDelete'),
  'access.stats': network('statsNetworks'),
  'access.stats_path': (config, value) => {
    const path = value.replace(/^\/+/, '');
    if (!/^[\x21-\x7e]{1,64}$/.test(path) || /[?#]/.test(path)) return `'${value}' is not a usable path`;
    config.statsPath = path;
    return null;
  },
  'access.proxy': network('proxyNetworks'),
  'tracker.rootdir': text('rootDir'),
  'tracker.user': text('user'),
  'tracker.redirect_url': (config, value) => {
    if (!/^[\x21-\x7e]+$/.test(value)) return `'${value}' is not a URL (no spaces or control characters)`;
    config.redirectUrl = value;
    return null;
  },
  'livesync.cluster.listen': (config, value) => {
    const hp = parseHostPort(value, 9696);
    if (typeof hp === 'string') return hp;
    config.livesyncListen = formatHostPort(hp.host, hp.port);
    return null;
  },
  'livesync.cluster.node_ip': network('livesyncNodes'),
  // In opentracker's sample file and man page but never read by it; accepted so those files load cleanly.
  'batchsync.cluster.admin_ip': () => null,
};

/** Applies the config file `text` (read from `file`) to `config`; returns every line it could not apply. */
export function applyConfigFile(file: string, text: string, config: Config, long: LongFlagSetter): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const problem = (reason: string) => problems.push({ file, line: n + 1, reason });
    if (line.length > MAX_LINE) {
      problem(`line longer than ${MAX_LINE} bytes`);
      continue;
    }
    const space = line.search(/[ \t]/);
    const key = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? '' : line.slice(space).replace(/^[ \t]+/, '');
    if (hasControlCharacter(line)) {
      problem('control character in line');
      continue;
    }
    const setter = KEYS[key];
    let reason: string | null;
    if (setter !== undefined) {
      reason = value === '' ? 'missing value' : setter(config, value);
    } else if (key.startsWith('swarmd.')) {
      reason = long(key.slice('swarmd.'.length), value);
    } else {
      reason = `unknown key '${key.slice(0, 64)}'`;
    }
    if (reason !== null) problem(`${key.slice(0, 64)}: ${reason}`);
  }
  return problems;
}

/** Any control character but tab (lines are already split at LF and stripped of a trailing CR). */
function hasControlCharacter(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}
