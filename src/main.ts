// Entry point: parse flags, start serving, drop privileges, keep state, reload access lists on SIGHUP, and stop
// cleanly on SIGINT/SIGTERM (stop listening, write the state file, exit 0). Start-up errors exit non-zero with one line.

import { availableParallelism } from 'node:os';
import { readFifo } from './access/fifo.ts';
import { dropPrivileges } from './cli/privileges.ts';
import { type Running, resolveFile, serve } from './cli/serve.ts';
import { createNotifier } from './cli/systemd.ts';
import { startWorkers } from './cli/workers.ts';
import { helpText, type Parsed, parseArgs, UsageError } from './config/cli.ts';
import { createLogger } from './log.ts';
import { TlsCredentials } from './net/tls-credentials.ts';
import { readStateFile, StateSaver } from './persist/state-file.ts';
import { VERSION } from './version.ts';

function fail(message: string, code: number): never {
  process.stderr.write(`swarmd: ${message}\n`);
  process.exit(code);
}

// `swarmd query …` is the query tool (also installed as swarmd-query), not the tracker.
if (process.argv[2] === 'query') {
  const { runQuery } = await import('./cli/query/main.ts');
  process.exit(await runQuery(process.argv.slice(3)));
}

let parsed: Parsed;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) fail(err.message, 2);
  throw err;
}
if (parsed.kind === 'help') {
  process.stdout.write(helpText());
  process.exit(0);
}
if (parsed.kind === 'version') {
  process.stdout.write(`${VERSION}\n`);
  process.exit(0);
}
const { config, problems, warnings } = parsed;
const log = createLogger(config);
// systemd (Type=notify): ready, reloading and stopping; nothing at all when not started by systemd.
const notifier = createNotifier(log);
for (const p of problems) log.warn({ file: p.file, line: p.line }, `config file: ${p.reason}`);
for (const warning of warnings) log.warn(warning);

let running: Running | null = null;
let credentials: TlsCredentials | null = null;
/** What `systemctl status` shows once serving. */
let status = '';
// Registered before start-up: a SIGHUP's default action would kill the process; everything loads as it starts anyway.
process.on('SIGHUP', () => {
  if (running === null) return;
  log.info('SIGHUP: reloading access lists and the TLS certificate');
  void notifier.reloading();
  const access = running.reloadAccess().catch((err) => log.error({ err }, 'reloading access lists failed'));
  void Promise.all([access, credentials?.reload('SIGHUP')]).then(() => notifier.reloaded(status));
});
try {
  // availableParallelism() honours the CPU affinity mask (e.g. taskset), not just the core count.
  const cpus = availableParallelism();
  const workers = config.workers === 0 ? cpus : config.workers;
  if (workers > cpus) {
    // Workers that must take turns on a CPU cost more per request than fewer would (docs/benchmarks.md).
    log.warn({ workers, cpus }, 'more workers than CPUs this process may run on; they will share CPUs');
  }
  const saved = config.stateFile === '' ? null : await readStateFile(resolveFile(config, config.stateFile), log);
  if (config.httpsPort !== 0) {
    const [cert, key] = [config.cert, config.key].map((file) => resolveFile(config, file));
    credentials = await TlsCredentials.load(cert, key, log, (pair) => running?.setTlsPair(pair));
  }
  const preloaded = { saved, tls: credentials?.current.pair ?? null };
  const started =
    workers === 1 ? await serve(config, log, preloaded) : await startWorkers(config, workers, log, preloaded);
  try {
    dropPrivileges(config, log);
  } catch (err) {
    await started.stop();
    throw err;
  }
  running = started;
  status = `serving with ${workers} worker${workers === 1 ? '' : 's'}`;
  log.info({ workers }, 'swarmd ready');
  void notifier.ready(status);
} catch (err) {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === 'EADDRINUSE') fail(`address in use: ${e.address}:${e.port}`, 1);
  if (e.code === 'EACCES' && e.port !== undefined) fail(`permission denied to listen on ${e.address}:${e.port}`, 1);
  if (e.code === 'EADDRNOTAVAIL') fail(`cannot listen on ${e.address}: no such local address`, 1);
  fail(e.message, 1);
}

const serving = running as Running;
credentials?.watch();
// The access FIFOs are read here, once, whatever the number of workers (a FIFO's bytes go to one reader only).
const stopFifos = (['add', 'delete'] as const)
  .map((which) => ({ which, file: which === 'add' ? config.fifoAdd : config.fifoDelete }))
  .filter(({ file }) => file !== '')
  .map(({ which, file }) => readFifo(resolveFile(config, file), log, (text) => serving.fifoLines(which, text)));
const saver =
  config.stateFile === ''
    ? null
    : new StateSaver(resolveFile(config, config.stateFile), config.stateInterval, () => serving.snapshot(), log);
saver?.start();

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  void notifier.stopping();
  // Stop taking requests first, so the state written is the last state.
  for (const stop of stopFifos) stop();
  credentials?.close();
  await serving.closeListeners();
  if (saver !== null) {
    saver.stop();
    await saver.saveNow();
  }
  await serving.stop();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
