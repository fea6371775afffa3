// A worker thread of `--workers N` (workers.ts): serves with its share of the cluster until told to stop.

import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.ts';
import { serve } from './serve.ts';
import type { WorkerData, WorkerMessage } from './workers.ts';

const { config, share } = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('worker.ts runs only as a worker thread');
const post = (m: WorkerMessage) => port.postMessage(m);

const log = createLogger(config.verbose).child({ worker: share.index });
try {
  const running = await serve(config, log, share);
  port.on('message', (m) => {
    if (m === 'stop') running.stop().finally(() => process.exit(0));
  });
  post({ type: 'ready' });
} catch (err) {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  post({ type: 'failed', error: { message: e.message, code: e.code, address: e.address, port: e.port } });
  process.exit(1);
}
