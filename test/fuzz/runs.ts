// How long the fuzz targets run, from one place. `npm test` runs each property a modest number of times; `npm run fuzz`
// sets SWARMD_FUZZ_RUNS for a long run. SWARMD_FUZZ_SEED (and SWARMD_FUZZ_PATH) replay a failure: fast-check prints
// both when a property fails (see docs/fuzzing.md).

import type fc from 'fast-check';

/** An environment variable as a whole number, or undefined when it is not set; anything else is a mistake. */
function wholeNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw new RangeError(`${name}=${text} is not a whole number`);
  return Number(text);
}

/**
 * Runs for one property: `defaultRuns` under `npm test`; with SWARMD_FUZZ_RUNS=N, N divided by `cost` (never fewer than
 * the default). `cost` is how many times dearer one run is than a run of a plain parser (about 0.1 ms): a whole tracker
 * answering, a temporary file, a socket. It gives every property a comparable share of a long run.
 */
export function fuzzRuns(defaultRuns: number, cost = 1): number {
  const runs = wholeNumber('SWARMD_FUZZ_RUNS');
  return runs === undefined ? defaultRuns : Math.max(defaultRuns, Math.ceil(runs / cost));
}

/** fast-check parameters for one property: its runs, and the seed and path to replay when given. */
export function fuzzParameters<T>(defaultRuns: number, cost = 1): fc.Parameters<T> {
  const seed = wholeNumber('SWARMD_FUZZ_SEED');
  const path = process.env.SWARMD_FUZZ_PATH;
  return {
    numRuns: fuzzRuns(defaultRuns, cost),
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined || path === '' ? {} : { path }),
  };
}
