// `--workers N`: N worker threads, each a whole tracker (serve.ts) with its own copy of the swarm, listening on the
// same ports with SO_REUSEPORT so the kernel spreads clients over them, and keeping the copies in step through
// shared-memory rings (replication.ts). This thread checks that the ports are free (port-probe.ts), starts the
// workers, relays signals and reports failures.

import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { type Config, listeners } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { TlsPair } from '../net/tls-credentials.ts';
import { createCounterBuffer } from '../stats/counters.ts';
import { monotonicMs } from '../tracker/clock.ts';
import { createRateLimitBuffer } from '../tracker/rate-limit.ts';
import { createRing } from '../tracker/replication.ts';
import { assertPortFree } from './port-probe.ts';
import { type Preloaded, type Running, skippable, type WorkerShare } from './serve.ts';

export interface WorkerData {
  config: Config;
  share: WorkerShare;
  preloaded: Preloaded;
}

/** What a worker posts to this thread. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: { message: string; code?: string; address?: string; port?: number } }
  | { type: 'done'; request: number; bytes?: Uint8Array; error?: string };

/** What this thread asks of a worker; each request is answered with a 'done' of the same number. */
export type WorkerRequest =
  | { type: 'stop' | 'close' | 'reload' | 'snapshot'; request: number }
  | { type: 'fifo'; which: 'add' | 'delete'; text: string }
  | { type: 'tls'; pair: TlsPair };

const WORKER_URL = new URL('./worker.ts', import.meta.url);

/** Starts `count` workers; resolves once all listen, rejects with the first start-up error (the others are stopped). */
export async function startWorkers(config: Config, count: number, log: Logger, preloaded: Preloaded): Promise<Running> {
  for (const { protocol, host, port, optional } of listeners(config)) {
    try {
      await assertPortFree(protocol, host, port);
    } catch (err) {
      if (!skippable(err, optional)) throw err;
    }
  }
  const counters = createCounterBuffer(count);
  const rateLimits = createRateLimitBuffer();
  const rings = Array.from({ length: count }, () => createRing());
  const connectionKey = new Uint8Array(randomBytes(8));
  const clockOrigin = monotonicMs();
  const workers: Worker[] = [];
  const exited: Promise<void>[] = [];
  const ready: Promise<void>[] = [];
  let serving = false;
  let stopping = false;

  let nextRequest = 0;
  const pending = new Map<
    number,
    { resolve: (m: WorkerMessage & { type: 'done' }) => void; reject: (e: Error) => void }
  >();
  /** Asks `worker` to do `type`; resolves with its answer, rejects if it exits first. */
  const ask = (worker: Worker, type: 'stop' | 'close' | 'reload' | 'snapshot') =>
    new Promise<WorkerMessage & { type: 'done' }>((resolve, reject) => {
      const request = nextRequest++;
      pending.set(request, { resolve, reject });
      worker.postMessage({ type, request } satisfies WorkerRequest);
    });
  const stop = async () => {
    stopping = true;
    for (const w of workers) w.postMessage({ type: 'stop', request: -1 } satisfies WorkerRequest);
    await Promise.all(exited);
  };

  for (let index = 0; index < count; index++) {
    const share = { index, rings, connectionKey, clockOrigin, counters, rateLimits };
    const data: WorkerData = { config, preloaded, share };
    const worker = new Worker(WORKER_URL, { workerData: data });
    workers.push(worker);
    exited.push(new Promise<void>((resolve) => worker.once('exit', () => resolve())));
    ready.push(
      new Promise<void>((resolve, reject) => {
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'failed') reject(Object.assign(new Error(m.error.message), m.error));
          else {
            const p = pending.get(m.request);
            pending.delete(m.request);
            if (m.error === undefined) p?.resolve(m);
            else p?.reject(new Error(m.error));
          }
        });
        worker.once('error', reject);
        worker.once('exit', (code) => {
          reject(new Error(`worker ${index} exited with code ${code} while starting`));
          for (const [request, p] of pending) {
            pending.delete(request);
            p.reject(new Error(`worker ${index} exited`));
          }
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
  return {
    stop,
    closeListeners: async () => {
      await Promise.all(workers.map((w) => ask(w, 'close')));
    },
    reloadAccess: async () => {
      await Promise.all(workers.map((w) => ask(w, 'reload')));
    },
    // Every worker holds the whole swarm; the first one's copy, caught up with the others, is the swarm.
    snapshot: async () => {
      const { bytes } = await ask(workers[0], 'snapshot');
      return Buffer.from(bytes?.buffer ?? new ArrayBuffer(0), bytes?.byteOffset, bytes?.byteLength);
    },
    fifoLines: (which, text) => {
      for (const w of workers) w.postMessage({ type: 'fifo', which, text } satisfies WorkerRequest);
    },
    setTlsPair: (pair) => {
      for (const w of workers) w.postMessage({ type: 'tls', pair } satisfies WorkerRequest);
    },
  };
}
