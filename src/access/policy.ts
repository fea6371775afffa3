// Which info hashes the tracker serves: those in the whitelist or the torrent directory, when either is configured,
// and never those in the blacklist. opentracker builds with a whitelist or a blacklist; both at once are allowed here.
// The FIFOs' changesets (fifo.ts) add hashes to, or take them from, the list file: the whitelist when there is one
// (or an empty one when there is neither list), else the blacklist.

import type { HashChangeset } from './fifo.ts';
import type { HashListFile } from './list-file.ts';
import type { TorrentDir } from './torrent-dir.ts';

export interface AccessParts {
  whitelist?: HashListFile;
  blacklist?: HashListFile;
  allowedDir?: TorrentDir;
  fifoAdd?: HashChangeset;
  fifoDelete?: HashChangeset;
}

export class AccessPolicy {
  private readonly whitelist: HashListFile | null;
  private readonly blacklist: HashListFile | null;
  private readonly allowedDir: TorrentDir | null;
  private readonly fifoAdd: HashChangeset | null;
  private readonly fifoDelete: HashChangeset | null;
  /** The FIFOs change the blacklist (else the whitelist). */
  private readonly fifosOnBlacklist: boolean;
  /** Only listed hashes are served: a whitelist, an allowed directory, or FIFOs that build a whitelist. */
  private readonly allowListed: boolean;

  constructor(parts: AccessParts) {
    this.whitelist = parts.whitelist ?? null;
    this.blacklist = parts.blacklist ?? null;
    this.allowedDir = parts.allowedDir ?? null;
    this.fifoAdd = parts.fifoAdd ?? null;
    this.fifoDelete = parts.fifoDelete ?? null;
    const fifos = this.fifoAdd !== null || this.fifoDelete !== null;
    this.fifosOnBlacklist = fifos && this.whitelist === null && this.blacklist !== null;
    this.allowListed = this.whitelist !== null || this.allowedDir !== null || (fifos && !this.fifosOnBlacklist);
  }

  /** Whether the 20-byte info hash at `hash[off]` may be announced and scraped. Allocates nothing. */
  allows(hash: Uint8Array, off: number): boolean {
    if (this.listed(this.blacklist, this.fifosOnBlacklist, hash, off)) return false;
    if (!this.allowListed) return true;
    return (
      this.listed(this.whitelist, !this.fifosOnBlacklist, hash, off) || this.allowedDir?.current.has(hash, off) === true
    );
  }

  /** Whether the hash is on `list` (null: an empty one), counting the FIFOs' changes when they apply to it. */
  private listed(list: HashListFile | null, withFifos: boolean, hash: Uint8Array, off: number): boolean {
    if (withFifos && this.fifoDelete?.current.has(hash, off)) return false;
    if (list?.current.has(hash, off)) return true;
    return withFifos && this.fifoAdd?.current.has(hash, off) === true;
  }

  /** The first loads and the first scan, at start-up. */
  async load(): Promise<void> {
    await Promise.all([this.whitelist?.load(), this.blacklist?.load(), this.allowedDir?.scan()]);
  }

  /** Watches the list files and rescans the directory on its timer. */
  start(): void {
    this.whitelist?.watch();
    this.blacklist?.watch();
    this.allowedDir?.start();
  }

  /**
   * Reloads the list files and rescans the directory (SIGHUP); the FIFOs' changesets are cleared, as opentracker
   * does. Each part that fails keeps what it had.
   */
  async reload(why: string): Promise<void> {
    this.fifoAdd?.clear();
    this.fifoDelete?.clear();
    await Promise.all([this.whitelist?.reload(why), this.blacklist?.reload(why), this.allowedDir?.scan()]);
  }

  /** Lines read from the `access.fifo_add` (`add`) or `access.fifo_delete` FIFO. */
  fifoLines(which: 'add' | 'delete', text: string): void {
    (which === 'add' ? this.fifoAdd : this.fifoDelete)?.addLines(text);
  }

  close(): void {
    this.whitelist?.close();
    this.blacklist?.close();
    this.allowedDir?.stop();
  }
}
