// Where the bench scripts find the repository and the shared load generators.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..');

/** The shared bench: $SWARMD_BENCH_SHARED, else beside the repository (../shared/bench), else this machine's copy. */
export function sharedBench(): string {
  if (process.env.SWARMD_BENCH_SHARED) return process.env.SWARMD_BENCH_SHARED;
  const beside = resolve(REPO, '../shared/bench');
  return existsSync(join(beside, 'bench.sh')) ? beside : '/work/shared/bench';
}
