// Per-stream tally of request outcomes for the soak: successes with their latencies, failures by reason, and a
// series of fixed windows so that a bad minute shows even when the whole run's figures look fine.

export interface WindowFigures {
  /** Seconds from the start of the run to the window's start. */
  t: number;
  ok: number;
  failed: number;
  p99Ms: number;
}

export interface OutcomeSummary {
  requests: number;
  ok: number;
  failed: number;
  /** ok / requests, in percent; 100 when nothing was sent. */
  successPct: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: Record<string, number>;
}

/**
 * Latencies of successful requests in milliseconds, each with the second of the run it ended in, kept whole (a
 * 20-minute run at 1,000/s is 15 MB), so that figures can be taken over any set of seconds.
 */
class Samples {
  private values = new Float64Array(4096);
  private seconds = new Uint32Array(4096);
  length = 0;

  push(ms: number, second: number): void {
    if (this.length === this.values.length) {
      const values = new Float64Array(this.values.length * 2);
      values.set(this.values);
      this.values = values;
      const seconds = new Uint32Array(this.seconds.length * 2);
      seconds.set(this.seconds);
      this.seconds = seconds;
    }
    this.seconds[this.length] = second;
    this.values[this.length++] = ms;
  }

  /** Sorted copy of the samples, of those seconds for which `keep` is true if given. */
  sorted(keep?: (second: number) => boolean): Float64Array {
    const all = this.values.subarray(0, this.length);
    if (keep === undefined) return all.slice().sort();
    return all.filter((_, i) => keep(this.seconds[i])).sort();
  }
}

/** The `p`-th percentile (0..100) of `sorted`, nearest rank; 0 when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export class Outcomes {
  private readonly samples = new Samples();
  private readonly failures = new Map<string, number>();
  /** The second of the run each failure happened in. */
  private readonly failedAt: number[] = [];
  private readonly windowMs: number;
  private readonly origin: number;
  private readonly windows: WindowFigures[] = [];
  private window: { start: number; ok: number; failed: number; samples: Samples } | null = null;

  /** `origin`: performance.now() at the start of the run; `windowSeconds`: width of the series' windows. */
  constructor(origin: number, windowSeconds: number) {
    this.origin = origin;
    this.windowMs = windowSeconds * 1000;
  }

  ok(latencyMs: number): void {
    const second = this.second();
    this.samples.push(latencyMs, second);
    const w = this.currentWindow();
    w.ok++;
    w.samples.push(latencyMs, second);
  }

  fail(reason: string): void {
    this.failedAt.push(this.second());
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    this.currentWindow().failed++;
  }

  get requests(): number {
    return this.samples.length + this.failedAt.length;
  }

  get failedCount(): number {
    return this.failedAt.length;
  }

  /** Figures over the whole run, or over the seconds for which `keep` is true (failures then not by reason). */
  summary(keep?: (second: number) => boolean): OutcomeSummary {
    const sorted = this.samples.sorted(keep);
    const failed = keep === undefined ? this.failedAt.length : this.failedAt.filter(keep).length;
    const requests = sorted.length + failed;
    const failures = keep === undefined ? [...this.failures].sort((a, b) => b[1] - a[1]) : [];
    return {
      requests,
      ok: sorted.length,
      failed,
      successPct: requests === 0 ? 100 : (100 * sorted.length) / requests,
      p50Ms: round2(percentile(sorted, 50)),
      p99Ms: round2(percentile(sorted, 99)),
      maxMs: round2(sorted.length === 0 ? 0 : sorted[sorted.length - 1]),
      failures: Object.fromEntries(failures),
    };
  }

  /** The closed windows and the one under way. */
  series(): WindowFigures[] {
    const open = this.window === null ? [] : [this.figures(this.window)];
    return [...this.windows, ...open];
  }

  private second(): number {
    return Math.floor((performance.now() - this.origin) / 1000);
  }

  private currentWindow() {
    const now = performance.now() - this.origin;
    const start = Math.floor(now / this.windowMs) * this.windowMs;
    if (this.window === null || this.window.start !== start) {
      if (this.window !== null) this.windows.push(this.figures(this.window));
      this.window = { start, ok: 0, failed: 0, samples: new Samples() };
    }
    return this.window;
  }

  private figures(w: { start: number; ok: number; failed: number; samples: Samples }): WindowFigures {
    return { t: w.start / 1000, ok: w.ok, failed: w.failed, p99Ms: round2(percentile(w.samples.sorted(), 99)) };
  }
}
