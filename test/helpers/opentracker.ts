// Starts and stops Debian's `opentracker` binary for the differential tests (test/integration/opentracker-diff.test.ts),
// and makes the private run directories it and swarmd are given.
//
// Debian's build is IPv4 only, whitelist only, with gzip and restricted stats (../shared/research/opentracker.md §1).
// Started as root it chroots into its `-d` directory and setuid's to `tracker.user` (default `nobody`), and opens
// the whitelist and the `-l` state file only then: so the run directory and its files must be readable by that user,
// and the paths in the config must be relative to the directory.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isExecutable, pathDirs } from './commands.ts';

/** Where Debian's package puts the binary (`apt-get install opentracker`). */
export const OPENTRACKER_PATHS = ['/usr/bin/opentracker', '/usr/sbin/opentracker', '/usr/local/bin/opentracker'];

/**
 * The opentracker binary on this machine, or null when it is not installed. `SWARMD_OPENTRACKER` names the binary
 * instead of PATH (set it to '' to act as if it were not installed).
 */
export function findOpentracker(): string | null {
  const override = process.env.SWARMD_OPENTRACKER;
  const candidates =
    override !== undefined ? [override] : [...pathDirs().map((d) => path.join(d, 'opentracker')), ...OPENTRACKER_PATHS];
  return candidates.find((candidate) => candidate !== '' && isExecutable(candidate)) ?? null;
}

/**
 * The opentracker binary for a test file, and what its opentracker tests pass as `skip`: false, or why they cannot
 * run. Under CI a missing binary registers a failing test instead, so that CI never passes by skipping them.
 */
export function requireOpentracker(): { binary: string; skip: string | false } {
  const binary = findOpentracker();
  if (binary !== null) return { binary, skip: false };
  const missing = 'Debian opentracker is not installed (apt-get install opentracker)';
  if (process.env.CI) test('opentracker is installed (CI)', () => assert.fail(missing));
  return { binary: '', skip: missing };
}

/**
 * A new private directory under the system temp directory holding `files` (name → content), the directory mode
 * 0755 and the files 0644 so that opentracker, after it chroots into the directory and becomes `nobody`, can read
 * them. Remove it with removeRunDir().
 */
export async function makeRunDir(prefix: string, files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await writeFile(file, content);
    await chmod(file, 0o644);
  }
  return dir;
}

export async function removeRunDir(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

export interface Opentracker {
  host: string;
  port: number;
  proc: ChildProcess;
  /** What it printed on stdout and stderr. */
  output: () => string;
  /** SIGINT, as its systemd unit stops it; SIGKILL if it has not exited within 3 s. */
  stop(): Promise<void>;
}

/** How long opentracker is given to bind after it was spawned. */
const START_TIMEOUT_MS = 5000;
/**
 * After the port accepts, the whitelist is still being read by its own thread (research §7, §8.5); nothing that a
 * request can observe without changing the state says when it is done, so the tracker is given this long.
 */
const SETTLE_MS = 150;

/**
 * Runs `opentracker ARGS` (exactly those arguments) and resolves once TCP `host:port` accepts connections and the
 * access list has had time to load. Rejects with its output if it exits first or does not bind in time.
 */
export async function startOpentracker(
  binary: string,
  args: string[],
  host: string,
  port: number,
): Promise<Opentracker> {
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout?.on('data', (d) => {
    log += d;
  });
  proc.stderr?.on('data', (d) => {
    log += d;
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  proc.once('error', (err) => {
    log += `spawn failed: ${err.message}\n`;
  });
  const stop = async () => {
    if (exited || proc.exitCode !== null || proc.signalCode !== null) return;
    // Debian's build aborts (SIGABRT) on SIGINT once chrooted: its pthread_cancel cannot load libgcc_s.so.1 inside
    // the run directory. Either way it is gone.
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`opentracker ${args.join(' ')} exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
    if (await accepts(host, port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`opentracker did not listen on ${host}:${port} within ${START_TIMEOUT_MS} ms:\n${log}`);
    }
    await sleep(20);
  }
  await sleep(SETTLE_MS);
  if (exited) throw new Error(`opentracker ${args.join(' ')} exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
  return { host, port, proc, output: () => log, stop };
}

/** Whether a TCP connection to host:port is accepted (then closed at once). */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
