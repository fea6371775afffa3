// Finding the programs some tests drive (opentracker, systemd-notify, systemd-analyze, openssl).

import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Whether `file` exists and this process may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directories of PATH, in order. */
export function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
}

/** Whether `binary` is an executable in one of PATH's directories. */
export function onPath(binary: string): boolean {
  return pathDirs().some((dir) => isExecutable(path.join(dir, binary)));
}
