// A cached monotonic clock in whole seconds, refreshed by one timer instead of a system call per request.

export class Clock {
  /** Seconds since the clock was made, plus one (so 0 never names a time). */
  now = 1;
  private readonly origin = performance.now();
  private timer: NodeJS.Timeout | null = null;

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
    this.now = Math.floor((performance.now() - this.origin) / 1000) + 1;
  }
}
