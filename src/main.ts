// Entry point: parse flags, start serving, drop privileges, keep state, reload access lists on SIGHUP, and stop
// cleanly on SIGINT/SIGTERM (stop listening, write the state file, exit 0). Start-up errors exit non-zero with one line.

import { availableParallelism } from 'node:os';
import { readFifo } from './access/fifo.ts';
import { dropPrivileges } from './cli/privileges.ts';
import { type Running, resolveFile, serve } from './cli/serve.ts';
import { startWorkers } from './cli/workers.ts';
import { helpText, type Parsed, parseArgs, UsageError } from './config/cli.ts';
import { createLogger } from './log.ts';
import { readStateFile, StateSaver } from './persist/state-file.ts';
import { VERSION } from './version.ts';

function fail(message: string, code: number): never {
  process.stderr.write(`swarmd: ${message}\n`);
  process.exit(code);
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
const { config, problems } = parsed;
const log = createLogger(config.verbose);
for (const p of problems) log.warn({ file: p.file, line: p.line }, `config file: ${p.reason}`);
if (config.livesyncListen !== '') log.warn('live sync (livesync.*, -s) is not supported yet; ignored');

let running: Running | null = null;
// Registered before start-up: a SIGHUP's default action would kill the process; the lists load as it starts anyway.
process.on('SIGHUP', () => {
  if (running === null) return;
  log.info('SIGHUP: reloading access lists');
  running.reloadAccess().catch((err) => log.error({ err }, 'reloading access lists failed'));
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
  const started = workers === 1 ? await serve(config, log, saved) : await startWorkers(config, workers, log, saved);
  try {
    dropPrivileges(config, log);
  } catch (err) {
    await started.stop();
    throw err;
  }
  running = started;
  log.info({ workers }, 'swarmd ready');
} catch (err) {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === 'EADDRINUSE') fail(`address in use: ${e.address}:${e.port}`, 1);
  if (e.code === 'EACCES' && e.port !== undefined) fail(`permission denied to listen on ${e.address}:${e.port}`, 1);
  if (e.code === 'EADDRNOTAVAIL') fail(`cannot listen on ${e.address}: no such local address`, 1);
  fail(e.message, 1);
}

const serving = running as Running;
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
  // Stop taking requests first, so the state written is the last state.
  for (const stop of stopFifos) stop();
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
