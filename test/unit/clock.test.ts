import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Clock, monotonicMs } from '../../src/tracker/clock.ts';

test('monotonicMs reads one clock in every thread, as the workers need for their connection-id windows', async () => {
  const module = new URL('../../src/tracker/clock.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(module)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.monotonicMs()))`;
  const before = monotonicMs();
  const worker = new Worker(code, { eval: true });
  const [inWorker] = await once(worker, 'message');
  const after = monotonicMs();
  await worker.terminate();
  assert.ok(before <= inWorker && inWorker <= after, `${before} <= ${inWorker} <= ${after}`);
});

test('a clock counts whole seconds from its origin, from 1', () => {
  const origin = monotonicMs() - 2500;
  const clock = new Clock(origin);
  assert.equal(clock.now, 3);
  assert.equal(new Clock().now, 1);
});
