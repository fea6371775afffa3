// Calls back, once a burst of writes has settled, when any of a few files changes. Each file's directory is watched,
// not the file: a tool that replaces a file by renaming another onto it (mv, editors, ACME clients) leaves a watch
// on the old file blind.

import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileWatchOptions {
  /** Quiet time after the last change before `changed` runs, so a burst of writes gives one call. */
  debounceMs?: number;
  /** The watch broke (for example, the directory went away); the files are no longer watched. */
  failed: (reason: string) => void;
}

export class FileWatch {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(files: readonly string[], changed: () => void, options: FileWatchOptions) {
    const debounceMs = options.debounceMs ?? 200;
    const names = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = dirname(file);
      const set = names.get(dir) ?? new Set();
      set.add(basename(file));
      names.set(dir, set);
    }
    const touched = () => {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        changed();
      }, debounceMs).unref();
    };
    try {
      for (const [dir, set] of names) {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          // Some platforms do not name the file; then any change in the directory may be ours.
          if (name === null || set.has(name)) touched();
        });
        watcher.on('error', (e) => {
          this.close();
          options.failed(e.message);
        });
        this.watchers.push(watcher);
      }
    } catch (e) {
      this.close();
      // Later, so that the caller holds this object (and can tell it failed) before it hears of the failure.
      queueMicrotask(() => options.failed((e as Error).message));
    }
  }

  /** Stops watching; a pending call is dropped. */
  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
