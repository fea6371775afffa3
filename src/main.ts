// Entry point: parse flags, start serving, stop cleanly on SIGINT/SIGTERM. Start-up errors exit non-zero with one line.

import { availableParallelism } from 'node:os';
import { serve } from './cli/serve.ts';
import { startWorkers } from './cli/workers.ts';
import { helpText, parseArgs, UsageError } from './config/cli.ts';
import { createLogger } from './log.ts';

function fail(message: string, code: number): never {
  process.stderr.write(`swarmd: ${message}\n`);
  process.exit(code);
}

let config: ReturnType<typeof parseArgs>;
try {
  config = parseArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) fail(err.message, 2);
  throw err;
}
if (config === 'help') {
  process.stdout.write(helpText());
  process.exit(0);
}

const log = createLogger(config.verbose);
try {
  // availableParallelism() honours the CPU affinity mask (e.g. taskset), not just the core count.
  const cpus = availableParallelism();
  const workers = config.workers === 0 ? cpus : config.workers;
  if (workers > cpus) {
    // Workers that must take turns on a CPU cost more per request than fewer would (docs/benchmarks.md).
    log.warn({ workers, cpus }, 'more workers than CPUs this process may run on; they will share CPUs');
  }
  const running = workers === 1 ? await serve(config, log) : await startWorkers(config, workers, log);
  log.info({ workers }, 'swarmd ready');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} catch (err) {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === 'EADDRINUSE') fail(`address in use: ${e.address}:${e.port}`, 1);
  if (e.code === 'EACCES') fail(`permission denied to listen on ${e.address}:${e.port}`, 1);
  if (e.code === 'EADDRNOTAVAIL') fail(`cannot listen on ${e.address}: no such local address`, 1);
  fail(e.message, 1);
}
