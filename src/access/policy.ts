// Which info hashes the tracker serves: those in the whitelist or the torrent directory, when either is configured,
// and never those in the blacklist. opentracker builds with a whitelist or a blacklist; both at once are allowed here.

import type { HashListFile } from './list-file.ts';
import type { TorrentDir } from './torrent-dir.ts';

export interface AccessParts {
  whitelist?: HashListFile;
  blacklist?: HashListFile;
  allowedDir?: TorrentDir;
}

export class AccessPolicy {
  private readonly whitelist: HashListFile | null;
  private readonly blacklist: HashListFile | null;
  private readonly allowedDir: TorrentDir | null;

  constructor(parts: AccessParts) {
    this.whitelist = parts.whitelist ?? null;
    this.blacklist = parts.blacklist ?? null;
    this.allowedDir = parts.allowedDir ?? null;
  }

  /** Whether the 20-byte info hash at `hash[off]` may be announced and scraped. Allocates nothing. */
  allows(hash: Uint8Array, off: number): boolean {
    if (this.blacklist?.current.has(hash, off)) return false;
    if (this.whitelist === null && this.allowedDir === null) return true;
    return this.whitelist?.current.has(hash, off) === true || this.allowedDir?.current.has(hash, off) === true;
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

  /** Reloads the list files and rescans the directory (SIGHUP). Each part that fails keeps what it had. */
  async reload(why: string): Promise<void> {
    await Promise.all([this.whitelist?.reload(why), this.blacklist?.reload(why), this.allowedDir?.scan()]);
  }

  close(): void {
    this.whitelist?.close();
    this.blacklist?.close();
    this.allowedDir?.stop();
  }
}
