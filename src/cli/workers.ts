// `--workers N`: N worker threads, each a whole tracker (serve.ts) with its own copy of the swarm, listening on the
// same ports with SO_REUSEPORT so the kernel spreads clients over them, and keeping the copies in step through
// shared-memory rings (replication.ts). This thread checks that the ports are free (port-probe.ts), starts the
// workers, relays signals and reports failures.

import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/cli.ts';
import type { Logger } from '../log.ts';
import { monotonicMs } from '../tracker/clock.ts';
import { createRing } from '../tracker/replication.ts';
import { assertPortsFree } from './port-probe.ts';
import { listenAddresses, skippable, type WorkerShare } from './serve.ts';

export interface WorkerData {
  config: Config;
  share: WorkerShare;
}

/** What a worker posts to this thread. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: { message: string; code?: string; address?: string; port?: number } };

const WORKER_URL = new URL('./worker.ts', import.meta.url);

export interface Workers {
  /** Asks every worker to stop and waits until they have. */
  stop(): Promise<void>;
}

/** Starts `count` workers; resolves once all listen, rejects with the first start-up error (the others are stopped). */
export async function startWorkers(config: Config, count: number, log: Logger): Promise<Workers> {
  for (const { host, optional } of listenAddresses(config)) {
    try {
      await assertPortsFree(host, config.httpPort, config.udpPort);
    } catch (err) {
      if (!skippable(err, optional)) throw err;
    }
  }
  const rings = Array.from({ length: count }, () => createRing());
  const connectionKey = new Uint8Array(randomBytes(8));
  const clockOrigin = monotonicMs();
  const workers: Worker[] = [];
  const exited: Promise<void>[] = [];
  const ready: Promise<void>[] = [];
  let serving = false;
  let stopping = false;

  const stop = async () => {
    stopping = true;
    for (const w of workers) w.postMessage('stop');
    await Promise.all(exited);
  };

  for (let index = 0; index < count; index++) {
    const data: WorkerData = { config, share: { index, rings, connectionKey, clockOrigin } };
    const worker = new Worker(WORKER_URL, { workerData: data });
    workers.push(worker);
    exited.push(new Promise<void>((resolve) => worker.once('exit', () => resolve())));
    ready.push(
      new Promise<void>((resolve, reject) => {
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve();
          else reject(Object.assign(new Error(m.error.message), m.error));
        });
        worker.once('error', reject);
        worker.once('exit', (code) => {
          reject(new Error(`worker ${index} exited with code ${code} while starting`));
          if (!serving || stopping) return;
          // A worker that dies while serving takes its share of clients with it: stop, so a supervisor restarts us.
          log.fatal({ worker: index, code }, 'worker exited; stopping');
          void stop().then(() => process.exit(1));
        });
      }),
    );
  }
  try {
    await Promise.all(ready);
    serving = true;
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
