// A worker thread of `--workers N` (workers.ts): serves with its share of the cluster until told to stop, and does
// what the main thread asks (close the listeners, reload the access lists, snapshot the swarm).

import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.ts';
import { type Running, serve } from './serve.ts';
import type { WorkerData, WorkerMessage, WorkerRequest } from './workers.ts';

const { config, share, preloaded } = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('worker.ts runs only as a worker thread');
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

async function answer(running: Running, m: WorkerRequest): Promise<void> {
  if (m.type === 'fifo') {
    running.fifoLines(m.which, m.text);
    return;
  }
  if (m.type === 'tls') {
    running.setTlsPair(m.pair);
    return;
  }
  try {
    if (m.type === 'stop') {
      await running.stop();
      process.exit(0);
    } else if (m.type === 'close') {
      await running.closeListeners();
      post({ type: 'done', request: m.request });
    } else if (m.type === 'reload') {
      await running.reloadAccess();
      post({ type: 'done', request: m.request });
    } else {
      const bytes = new Uint8Array(await running.snapshot());
      post({ type: 'done', request: m.request, bytes }, [bytes.buffer as ArrayBuffer]);
    }
  } catch (err) {
    post({ type: 'done', request: m.request, error: (err as Error).message });
  }
}

const log = createLogger(config).child({ worker: share.index });
try {
  const running = await serve(config, log, preloaded, share);
  port.on('message', (m: WorkerRequest) => void answer(running, m));
  post({ type: 'ready' });
} catch (err) {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  post({ type: 'failed', error: { message: e.message, code: e.code, address: e.address, port: e.port } });
  process.exit(1);
}
