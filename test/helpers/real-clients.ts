// Helpers for driving real BitTorrent clients (libtorrent, aria2, Transmission) against a tracker on loopback.
// Every client is kept off DHT, PEX, LSD, UPnP/NAT-PMP and uTP, so the tracker is the only peer source.
// See shared/research/real-clients.md for the client quirks these helpers work around.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import bencode from 'bencode';
import { freePort } from './ports.ts';

const execFileAsync = promisify(execFile);

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PY_DIR = fileURLToPath(new URL('./real-clients/', import.meta.url));
// The Debian python3-libtorrent module only imports into the system interpreter, not a pyenv/venv one.
const PYTHON = '/usr/bin/python3';

const LOG_TAIL_LINES = 40;
const STOP_GRACE_MS = 5_000;

// ---------------------------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Host as written inside a URL: IPv6 literals need brackets. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Polls `check` until it returns a value other than undefined; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      // A dead client fails at once; anything else (e.g. a refused connection) is retried until the deadline.
      if (error instanceof ProcessExitedError) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export interface FileHashes {
  sha1: string;
  sha256: string;
}

export function hashBytes(data: Uint8Array): FileHashes {
  return {
    sha1: createHash('sha1').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

export async function writeRandomFile(file: string, size: number): Promise<FileHashes> {
  const data = randomBytes(size);
  await writeFile(file, data);
  return hashBytes(data);
}

/** Waits until `file` exists and hashes to `expected`: the download is complete and intact. */
export async function waitForFileHashes(
  file: string,
  expected: FileHashes,
  timeoutMs: number,
  client: Tracked,
): Promise<FileHashes> {
  return waitFor(
    `${client.name} to download ${path.basename(file)} intact`,
    timeoutMs,
    async () => {
      client.assertRunning();
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch {
        return undefined;
      }
      const got = hashBytes(data);
      return got.sha1 === expected.sha1 && got.sha256 === expected.sha256 ? got : undefined;
    },
    250,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Ports

async function waitForTcp(host: string, port: number, owner: Tracked, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `${owner.name} to accept TCP on ${urlHost(host)}:${port}`,
    timeoutMs,
    () => {
      owner.assertRunning();
      return new Promise<true | undefined>((resolve) => {
        const socket = net.connect({ host, port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(undefined));
      });
    },
    50,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Binaries

const INSTALL_HINT = 'apt-get install -y python3-libtorrent aria2 transmission-daemon transmission-cli';

/** Fails with an install hint if a client is missing: CI installs them, so a missing one must not pass silently. */
export async function requireClients(binaries: string[], needLibtorrent: boolean): Promise<void> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const binary of binaries) {
    const found = await Promise.any(dirs.map((dir) => access(path.join(dir, binary)))).then(
      () => true,
      () => false,
    );
    if (!found) throw new Error(`real-client test needs \`${binary}\` on PATH (${INSTALL_HINT})`);
  }
  if (needLibtorrent) {
    try {
      await execFileAsync(PYTHON, ['-c', 'import libtorrent']);
    } catch {
      throw new Error(`real-client test needs libtorrent for ${PYTHON} (${INSTALL_HINT})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

export class ProcessExitedError extends Error {}

export interface Tracked {
  name: string;
  child: ChildProcess;
  /** Last lines of stdout+stderr, shown when a case fails. */
  tail: string[];
  /** JSON events printed by lt_client.py (empty for other programs). */
  events: Array<{ event: string; [key: string]: unknown }>;
  /** swarmd logged "swarmd ready" (false for other programs). */
  ready: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<void>;
  /** Graceful stop, e.g. SIGINT for aria2 so it announces event=stopped. */
  stop: () => Promise<void>;
  assertRunning: () => void;
}

// Every live process group, so that a crash of the test process itself still kills the clients.
const live = new Set<Tracked>();
process.on('exit', () => {
  for (const proc of live) killGroup(proc, 'SIGKILL');
});

function killGroup(proc: Tracked, signal: NodeJS.Signals): void {
  if (proc.child.pid === undefined) return;
  try {
    // Negative pid: the whole process group (each child is spawned detached, as a group leader).
    process.kill(-proc.child.pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

async function waitExit(proc: Tracked, ms: number): Promise<boolean> {
  if (proc.exit) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  // Clear the timer either way: a pending one would hold the test process open for up to `ms`.
  return Promise.race([proc.exited.then(() => true as const), timedOut]).finally(() => clearTimeout(timer));
}

/** Signals the group, waits for a graceful exit, then SIGKILLs whatever is left of the group. */
export async function signalAndWait(proc: Tracked, signal: NodeJS.Signals, graceMs = STOP_GRACE_MS): Promise<void> {
  if (!proc.exit) {
    killGroup(proc, signal);
    await waitExit(proc, graceMs);
  }
  killGroup(proc, 'SIGKILL');
  await waitExit(proc, 2_000);
  live.delete(proc);
}

/** Spawns `command` as its own process group, registered with the case so that closing the case stops it. */
export function spawnTracked(
  scope: Case,
  name: string,
  command: string,
  args: string[],
  options: { cwd?: string; stopSignal?: NodeJS.Signals } = {},
): Tracked {
  if (scope.closed) throw new ProcessExitedError(`${scope.label} is closing: not starting ${name}`);
  const child = spawn(command, args, {
    cwd: options.cwd ?? scope.dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let resolveExited = (): void => {};
  const proc: Tracked = {
    name,
    child,
    tail: [],
    events: [],
    ready: false,
    exit: undefined,
    exited: new Promise<void>((resolve) => {
      resolveExited = resolve;
    }),
    stop: () => signalAndWait(proc, options.stopSignal ?? 'SIGTERM'),
    assertRunning: () => {
      if (proc.exit) {
        const how = proc.exit.signal ?? `code ${proc.exit.code}`;
        throw new ProcessExitedError(`${name} exited early (${how})`);
      }
    },
  };
  const onLine = (line: string): void => {
    proc.tail.push(line);
    if (proc.tail.length > LOG_TAIL_LINES) proc.tail.shift();
    if (line.startsWith('{"event"')) proc.events.push(JSON.parse(line));
    if (line.includes('"msg":"swarmd ready"')) proc.ready = true;
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
  }
  child.on('error', (error) => {
    onLine(`spawn error: ${error.message}`);
    proc.exit = { code: null, signal: null };
    resolveExited();
  });
  child.on('exit', (code, signal) => {
    proc.exit = { code, signal };
    resolveExited();
  });
  live.add(proc);
  scope.procs.push(proc);
  return proc;
}

// ---------------------------------------------------------------------------------------------------------------
// A test case: a temp dir plus the processes it started

export interface Case {
  label: string;
  dir: string;
  procs: Tracked[];
  /** Set once the case is being torn down: no new process may start after that. */
  closed: boolean;
}

/**
 * Runs `body` in a fresh temp dir. Whatever happens, every process it started is stopped (clients first, gracefully,
 * so they announce event=stopped; trackers last) and the dir is removed. On failure the error carries log tails.
 * `signal` is the test's own (aborted on the test timeout): then teardown starts at once instead of after `body`.
 */
export async function runCase(label: string, signal: AbortSignal, body: (scope: Case) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `swarmd-rc-${label}-`));
  const scope: Case = { label, dir, procs: [], closed: false };
  const running = body(scope);
  running.catch(() => {}); // on abort nobody awaits it; its waits fail once the processes are gone
  const aborted = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error(`aborted: ${signal.reason}`)), { once: true });
  });
  try {
    await Promise.race([running, aborted]);
  } catch (error) {
    const logs = scope.procs.map((p) => `--- ${p.name} (last ${p.tail.length} lines) ---\n${p.tail.join('\n')}`);
    const message = error instanceof Error ? error.message : String(error);
    const report = `${label}: ${message}\n${logs.join('\n')}`;
    // After a timeout the runner has already reported the test and ignores our error, so print the logs.
    if (signal.aborted) console.error(report);
    throw new Error(report, { cause: error });
  } finally {
    await closeCase(scope);
  }
}

async function closeCase(scope: Case): Promise<void> {
  scope.closed = true;
  const trackers = scope.procs.filter((p) => p.name.startsWith('tracker'));
  const clients = scope.procs.filter((p) => !trackers.includes(p));
  await Promise.all(clients.map((p) => p.stop()));
  await Promise.all(trackers.map((p) => p.stop()));
  await rm(scope.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Trackers

export interface TrackerOptions {
  host: string;
  /** Same number for HTTP (TCP) and UDP. */
  port: number;
}

/** swarmd, the tracker under test. */
export async function startTracker(scope: Case, { host, port }: TrackerOptions): Promise<Tracked> {
  const args = ['src/main.ts', '--host', host, '--http-port', `${port}`, '--udp-port', `${port}`];
  // A long interval: every client announces only started/completed/stopped within a case.
  args.push('--interval', '1800', '--min-interval', '60');
  const proc = spawnTracked(scope, 'tracker swarmd', process.execPath, args, { cwd: REPO_ROOT });
  // Ready when swarmd says so, with every listener up. A TCP connect alone can be taken by another test process's
  // freePort() probe, which listens for a moment on a port the kernel picks, before swarmd binds the number.
  await waitFor(
    `${proc.name} to log "swarmd ready"`,
    10_000,
    () => {
      proc.assertRunning();
      return proc.ready ? true : undefined;
    },
    50,
  );
  await waitForTcp(host, port, proc);
  return proc;
}

export interface ScrapeEntry {
  complete: number;
  downloaded: number;
  incomplete: number;
}

function percentEncode(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** Dict key under which `bencode` v4 puts a binary key: its UTF-8 text, or hex if that text is not valid UTF-8. */
function bencodeKey(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes);
  return text.includes('\uFFFD') ? Buffer.from(bytes).toString('hex') : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !Array.isArray(value);
}

/** HTTP scrape of one info hash; undefined if the tracker does not list it. */
export async function scrape(host: string, port: number, infoHashHex: string): Promise<ScrapeEntry | undefined> {
  const hash = Buffer.from(infoHashHex, 'hex');
  const url = `http://${urlHost(host)}:${port}/scrape?info_hash=${percentEncode(hash)}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  const body = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) throw new Error(`scrape: HTTP ${response.status}`);
  const decoded: unknown = bencode.decode(body);
  if (!isRecord(decoded) || !isRecord(decoded.files)) throw new Error('scrape: reply has no files dict');
  const entry = decoded.files[bencodeKey(hash)];
  if (!isRecord(entry)) return undefined;
  const { complete, downloaded, incomplete } = entry;
  if (typeof complete !== 'number' || typeof downloaded !== 'number' || typeof incomplete !== 'number') {
    throw new Error('scrape: entry lacks complete/downloaded/incomplete integers');
  }
  return { complete, downloaded, incomplete };
}

/** Polls the scrape until `accept` holds: announces are asynchronous to what the clients show. */
export function waitForScrape(
  host: string,
  port: number,
  infoHashHex: string,
  what: string,
  accept: (entry: ScrapeEntry) => boolean,
  timeoutMs = 15_000,
): Promise<ScrapeEntry> {
  let last: ScrapeEntry | undefined;
  return waitFor(
    `scrape to show ${what}`,
    timeoutMs,
    async () => {
      last = await scrape(host, port, infoHashHex);
      return last && accept(last) ? last : undefined;
    },
    200,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last scrape: ${JSON.stringify(last ?? 'not listed')}`);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Torrents

export async function makeTorrent(
  dataFile: string,
  announceUrl: string,
  outFile: string,
  options: { private?: boolean } = {},
): Promise<string> {
  const args = [path.join(PY_DIR, 'make_torrent.py'), dataFile, announceUrl, outFile];
  if (options.private) args.push('--private');
  const { stdout } = await execFileAsync(PYTHON, args, { timeout: 30_000 });
  const infoHash = stdout.trim();
  if (!/^[0-9a-f]{40}$/.test(infoHash)) throw new Error(`make_torrent.py printed ${JSON.stringify(stdout)}`);
  return infoHash;
}

// ---------------------------------------------------------------------------------------------------------------
// Clients

export interface ClientOptions {
  name: string;
  torrent: string;
  /** Holds the complete file for a seeder; empty for a leecher. */
  dir: string;
  /** The swarm's loopback address, 127.0.0.1 or ::1: libtorrent listens there only; aria2 and Transmission
   * listen more widely and announce in the tracker URL's family. */
  host: string;
  /** Peer (listen) port, which the client announces as `port=`. */
  port: number;
}

export async function startLibtorrent(scope: Case, options: ClientOptions): Promise<Tracked> {
  const script = path.join(PY_DIR, 'lt_client.py');
  const listen = `${urlHost(options.host)}:${options.port}`;
  const args = [script, '--torrent', options.torrent, '--save-path', options.dir, '--listen', listen];
  const proc = spawnTracked(scope, options.name, PYTHON, args);
  await waitForEvent(proc, 'listening', 10_000);
  return proc;
}

/** Waits for a JSON event line from lt_client.py; a tracker_error fails at once since clients retry only slowly. */
export function waitForEvent(proc: Tracked, event: string, timeoutMs: number): Promise<void> {
  return waitFor(
    `${proc.name} event "${event}"`,
    timeoutMs,
    () => {
      const error = proc.events.find((e) => e.event === 'tracker_error' || e.event === 'listen_failed');
      if (error) throw new ProcessExitedError(`${proc.name}: ${JSON.stringify(error)}`);
      if (proc.events.some((e) => e.event === event)) return true;
      proc.assertRunning();
      return undefined;
    },
    50,
  ).then(() => undefined);
}

export interface Aria2Options extends ClientOptions {
  role: 'seed' | 'leech';
  /** aria2's UDP tracker client rides on its IPv4 DHT socket, so UDP trackers need DHT on (and a private torrent). */
  udpTracker: boolean;
}

export async function startAria2(scope: Case, options: Aria2Options): Promise<Tracked> {
  const args = [
    '--no-conf=true',
    `--dir=${options.dir}`,
    `--listen-port=${options.port}`,
    '--enable-peer-exchange=false',
    '--bt-enable-lpd=false',
    '--enable-dht6=false',
    `--enable-dht=${options.udpTracker}`,
    '--file-allocation=none',
    '--auto-file-renaming=false',
    '--summary-interval=0',
    '--console-log-level=warn',
    '--log=-',
    '--log-level=info',
  ];
  if (options.udpTracker) {
    // A fresh, empty routing table and no entry point: DHT finds nobody, and aria2 never uses it for a private torrent.
    args.push(`--dht-file-path=${path.join(scope.dir, `${options.name}-dht.dat`)}`);
    args.push(`--dht-listen-port=${await freePort()}`);
  }
  if (options.role === 'seed') {
    // Verify the existing file, then seed with no ratio limit until stopped.
    args.push('--check-integrity=true', '--seed-ratio=0.0');
  } else {
    // With --seed-time=0 aria2 goes straight to event=stopped and never sends event=completed.
    args.push('--seed-time=60', '--seed-ratio=0.0');
  }
  args.push(options.torrent);
  // SIGINT is aria2's graceful shutdown (announces event=stopped); SIGTERM is an emergency stop that sends nothing.
  return spawnTracked(scope, options.name, 'aria2c', args, { stopSignal: 'SIGINT' });
}

export interface TransmissionOptions extends ClientOptions {
  rpcPort: number;
  infoHash: string;
}

async function transmissionRemote(rpcPort: number, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('transmission-remote', [`127.0.0.1:${rpcPort}`, ...args], {
    timeout: 10_000,
  });
  return stdout;
}

/** transmission-daemon in the foreground with its own config dir, then the torrent added over RPC. */
export async function startTransmission(scope: Case, options: TransmissionOptions): Promise<Tracked> {
  const configDir = path.join(scope.dir, `${options.name}-config`);
  await mkdir(configDir);
  const ipv6 = options.host.includes(':');
  const settings = {
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': false,
    'port-forwarding-enabled': false,
    'blocklist-enabled': false,
    'peer-port': options.port,
    'peer-port-random-on-start': false,
    // Peers on loopback only. But a non-wildcard IPv4 bind address also becomes curl's source interface for every
    // announce, and then an announce to [::1] fails ("Could not connect to tracker"): keep it wildcard for IPv6.
    'bind-address-ipv4': ipv6 ? '0.0.0.0' : '127.0.0.1',
    'bind-address-ipv6': '::1',
    'rpc-enabled': true,
    'rpc-port': options.rpcPort,
    'rpc-bind-address': '127.0.0.1',
    'rpc-authentication-required': false,
    'rpc-whitelist-enabled': false,
    'rpc-host-whitelist-enabled': false,
    'download-dir': options.dir,
    'incomplete-dir-enabled': false,
    'watch-dir-enabled': false,
    'start-added-torrents': true,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'speed-limit-down-enabled': false,
    'speed-limit-up-enabled': false,
    'message-level': 2,
  };
  await writeFile(path.join(configDir, 'settings.json'), JSON.stringify(settings, null, 2));
  const proc = spawnTracked(scope, options.name, 'transmission-daemon', ['--foreground', '--config-dir', configDir]);
  // Transmission 3.00's SIGTERM does not reliably announce event=stopped; stopping the torrent over RPC does.
  proc.stop = async () => {
    if (!proc.exit) {
      await transmissionRemote(options.rpcPort, ['-t', options.infoHash, '-S']).catch(() => '');
      await sleep(500); // the stop announce is sent asynchronously
    }
    await signalAndWait(proc, 'SIGTERM');
  };
  await waitForTcp('127.0.0.1', options.rpcPort, proc);
  // transmission-remote exits 0 even when the daemon refuses the torrent, so check its answer.
  const answer = await transmissionRemote(options.rpcPort, ['-a', options.torrent, '-w', options.dir]);
  if (!answer.includes('"success"')) throw new Error(`transmission-remote -a answered: ${answer.trim()}`);
  return proc;
}
