// The one Config every part of swarmd reads, whichever way it was given: long flags (seed 001's dialect), short
// flags and config file (opentracker's). Plain data, so it crosses to worker threads as it is.

export interface ListenSpec {
  protocol: 'http' | 'https' | 'udp';
  /** An address, or '' for every IPv4 and IPv6 address. */
  host: string;
  port: number;
}

export interface Config {
  /** Addresses of the default listeners (--host); empty means every IPv4 and IPv6 address. */
  hosts: string[];
  httpPort: number;
  udpPort: number;
  /** HTTPS announce and scrape port; 0: no HTTPS. */
  httpsPort: number;
  /** The certificate chain (PEM, leaf first) and its private key (PEM) for HTTPS. */
  cert: string;
  key: string;
  /** Answer plain HTTP with 301 to https:// + domain + the same target. */
  redirectHttp: boolean;
  /** The name (and port, unless 443) clients reach the HTTPS port by, for --redirect-http. */
  domain: string;
  ipv6: boolean;
  /** Listeners named one by one (-p, -P, listen.* in a config file); when any is given they replace the defaults. */
  listen: ListenSpec[];
  interval: number;
  minInterval: number;
  peerTtl: number;
  maxPeers: number;
  defaultNumwant: number;
  maxScrapeHashes: number;
  fullScrape: boolean;
  trackerId: string;
  /** HTTP(S) connection bounds: request head size, time to send a head, keep-alive idle time, TLS handshake time. */
  maxHeaderBytes: number;
  headerTimeout: number;
  idleTimeout: number;
  handshakeTimeout: number;
  /** Announces and scrapes per second per address (IPv4, or IPv6 /64), and the burst allowed; a rate of 0: none. */
  announceRate: number;
  announceBurst: number;
  scrapeRate: number;
  scrapeBurst: number;
  /**
   * Networks (CIDR) whose requests the rate limits never refuse and the repeat cache never answers; empty: loopback
   * (127.0.0.0/8 and ::1); 'none' alone: no network.
   */
  rateLimitExempt: string[];
  /** Caps: torrents, peers per torrent, and the resident memory budget in MiB; 0: none. */
  maxTorrents: number;
  maxPeersPerTorrent: number;
  maxMemory: number;
  /** Replies kept for peers that re-announce before min interval (entries; 0: none kept). */
  repeatCache: number;
  /** Open HTTP(S) connections per listener; 0: no cap. */
  maxConnections: number;
  /** Worker threads answering requests; 0: one per core this process may run on. */
  workers: number;
  udpIo: 'auto' | 'native' | 'dgram';
  httpIo: 'auto' | 'native' | 'net';
  verbose: boolean;
  /** One JSON line per event (json), or one readable line (pretty). */
  logFormat: 'json' | 'pretty';

  /** Access lists: files of info hashes in opentracker's format. */
  whitelist: string;
  blacklist: string;
  /** FIFOs of hex info hashes to allow / refuse until the next SIGHUP (opentracker's dynamic access lists). */
  fifoAdd: string;
  fifoDelete: string;
  /** A directory of .torrent files whose info hashes are allowed (the Anomos tracker's allowed_dir). */
  allowedDir: string;
  parseDirInterval: number;

  /** The /stats path, without its leading '/'. */
  statsPath: string;
  /** Networks (CIDR) allowed /stats and /metrics; empty: loopback only. */
  statsNetworks: string[];
  /** Reverse proxies (CIDR) whose X-Forwarded-For, X-Real-IP or Forwarded header names the client. */
  proxyNetworks: string[];
  /** Honour an announce's `ip=` (opentracker's WANT_IP_FROM_QUERY_STRING). */
  ipFromQuery: boolean;
  /** Where `GET /` redirects (302); '' answers 404. */
  redirectUrl: string;

  /** Directory to change to after binding; relative files are found from it. */
  rootDir: string;
  /** User to run as after binding, when started as root. */
  user: string;

  /** An opentracker statedump to load at start (-l). */
  statedump: string;
  /** swarmd's own state file, written every stateInterval seconds and at shutdown, read at start. */
  stateFile: string;
  stateInterval: number;

  /** opentracker live sync: the multicast interface and port, and the nodes (CIDR) whose packets are taken. */
  livesyncListen: string;
  livesyncNodes: string[];
}

export const DEFAULT_CONFIG: Readonly<Config> = {
  hosts: [],
  httpPort: 6969,
  udpPort: 6969,
  httpsPort: 0,
  cert: '',
  key: '',
  redirectHttp: false,
  domain: '',
  ipv6: false,
  listen: [],
  interval: 1800,
  minInterval: 60,
  peerTtl: 3600,
  maxPeers: 200,
  defaultNumwant: 50,
  maxScrapeHashes: 64,
  fullScrape: false,
  trackerId: 'swarmd',
  maxHeaderBytes: 8192,
  headerTimeout: 10,
  idleTimeout: 60,
  handshakeTimeout: 10,
  maxTorrents: 0,
  maxPeersPerTorrent: 0,
  maxMemory: 0,
  maxConnections: 0,
  repeatCache: 4096,
  announceRate: 50,
  announceBurst: 200,
  scrapeRate: 20,
  scrapeBurst: 100,
  rateLimitExempt: [],
  workers: 0,
  udpIo: 'auto',
  httpIo: 'auto',
  verbose: false,
  logFormat: 'json',
  whitelist: '',
  blacklist: '',
  fifoAdd: '',
  fifoDelete: '',
  allowedDir: '',
  parseDirInterval: 60,
  statsPath: 'stats',
  statsNetworks: [],
  proxyNetworks: [],
  ipFromQuery: false,
  redirectUrl: '',
  rootDir: '',
  user: '',
  statedump: '',
  stateFile: '',
  stateInterval: 300,
  livesyncListen: '',
  livesyncNodes: [],
};

export function defaultConfig(): Config {
  return structuredClone(DEFAULT_CONFIG) as Config;
}

/** One listening socket to open; `optional` ones may fail on a machine without IPv6. */
export interface Listener extends ListenSpec {
  optional: boolean;
}

/**
 * Every socket to open: the named listeners, or the defaults built from --host, --http-port and --udp-port; HTTPS
 * (--https-port) at every --host, or at every address beside named listeners.
 */
export function listeners(config: Config): Listener[] {
  const out: Listener[] = [];
  const add = (protocol: ListenSpec['protocol'], host: string, port: number) => {
    if (host !== '') {
      out.push({ protocol, host, port, optional: false });
      return;
    }
    out.push({ protocol, host: '0.0.0.0', port, optional: false }, { protocol, host: '::', port, optional: true });
  };
  if (config.listen.length > 0) {
    for (const l of config.listen) add(l.protocol, l.host, l.port);
    if (config.httpsPort !== 0) add('https', '', config.httpsPort);
    return dedupe(out);
  }
  const hosts = config.hosts.length === 0 ? [''] : [...config.hosts];
  if (config.ipv6 && config.hosts.length > 0 && !hosts.includes('::')) hosts.push('::');
  for (const host of hosts) {
    if (config.httpPort !== 0) add('http', host, config.httpPort);
    if (config.httpsPort !== 0) add('https', host, config.httpsPort);
    if (config.udpPort !== 0) add('udp', host, config.udpPort);
  }
  return dedupe(out);
}

/** The same socket named twice is opened once (a required one wins over an optional one). */
function dedupe(list: Listener[]): Listener[] {
  const seen = new Map<string, Listener>();
  for (const l of list) {
    const key = `${l.protocol} ${l.host} ${l.port}`;
    const had = seen.get(key);
    if (had === undefined) seen.set(key, l);
    else had.optional &&= l.optional;
  }
  return [...seen.values()];
}
