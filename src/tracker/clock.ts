// A cached monotonic clock in whole seconds, refreshed by one timer instead of a system call per request.

/**
 * Milliseconds of the system's monotonic clock, which every thread reads alike. Not performance.now(), which restarts
 * in each worker, nor performance.timeOrigin + performance.now(): timeOrigin is the wall clock when each thread
 * started, so a wall-clock step between the main thread's start and a worker's would set their clocks apart for good.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export class Clock {
  /** Seconds since `origin`, plus one (so 0 never names a time). */
  now = 1;
  private readonly origin: number;
  private timer: NodeJS.Timeout | null = null;

  /** `origin`: a monotonicMs() reading; workers pass the same one so that their clocks agree. */
  constructor(origin = monotonicMs()) {
    this.origin = origin;
    this.tick();
  }

  /** Starts refreshing every `ms` milliseconds; the timer does not keep the process alive. */
  start(ms = 250): this {
    this.timer ??= setInterval(() => this.tick(), ms).unref();
    return this;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  tick(): void {
    this.now = Math.floor((monotonicMs() - this.origin) / 1000) + 1;
  }
}
