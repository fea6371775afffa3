// The resident memory budget (--max-memory): new torrents and peers are refused once the process comes near it, and
// taken again once it is well below, so that no request pattern can grow the process past the budget. Known peers
// keep announcing meanwhile; expiry frees room as peers leave.
//
// Measured once a second: at the most a worker can insert in a second (a few hundred thousand peers of ~40 bytes)
// the store cannot cover the last tenth of the budget between two readings, and the store's arrays grow by
// realloc, whose new pages count only once written.

/** Stop taking new torrents and peers at this share of the budget… */
const STOP_AT = 0.9;
/** …and take them again below this one, so that the state does not flip at every reading. */
const RESUME_BELOW = 0.8;

export class MemoryGuard {
  private readonly budgetBytes: number;
  private readonly rss: () => number;
  /** Whether new torrents and peers are taken, as of the last check(). */
  admitting = true;
  /** The resident size at the last check(), in bytes. */
  lastRss = 0;

  constructor(budgetMiB: number, rss: () => number = () => process.memoryUsage.rss()) {
    this.budgetBytes = budgetMiB * 1024 * 1024;
    this.rss = rss;
  }

  /** Reads the resident size; returns true when `admitting` changed. */
  check(): boolean {
    this.lastRss = this.rss();
    const next = this.admitting
      ? this.lastRss < this.budgetBytes * STOP_AT
      : this.lastRss < this.budgetBytes * RESUME_BELOW;
    const changed = next !== this.admitting;
    this.admitting = next;
    return changed;
  }
}
