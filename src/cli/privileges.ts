// -d DIR and -u USER: after every socket is bound, change to the directory and, when started as root, become the
// user (its groups, then its group, then its uid: in that order, or the later calls are no longer allowed). Node
// has no chroot(2); docs/deploy.md (privilege drop and chroot) shows the systemd settings that confine it instead.

import { execFileSync } from 'node:child_process';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';

export class PrivilegeError extends Error {
  override name = 'PrivilegeError';
}

/** The uid and primary gid of `user`, through the system's user database (files, LDAP, …), or null if unknown. */
function lookupUser(user: string): { uid: number; gid: number } | null {
  try {
    const uid = Number(
      execFileSync('id', ['-u', '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
    const gid = Number(
      execFileSync('id', ['-g', '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** Changes directory and user as the config asks; throws PrivilegeError when a root process cannot stop being root. */
export function dropPrivileges(config: Config, log: Logger): void {
  if (config.rootDir !== '') {
    try {
      process.chdir(config.rootDir);
    } catch (err) {
      throw new PrivilegeError(`cannot change to directory ${config.rootDir}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  const isRoot = process.getuid?.() === 0;
  if (config.user === '') {
    if (isRoot) log.warn('running as root: give -u USER to run as an unprivileged user after binding');
    return;
  }
  if (!isRoot) {
    // opentracker does the same: only root can change user, and a non-root process is already unprivileged.
    log.info({ user: config.user }, 'not started as root: keeping the current user');
    return;
  }
  const ids = lookupUser(config.user);
  if (ids === null) throw new PrivilegeError(`no such user: ${config.user}`);
  if (ids.uid === 0) throw new PrivilegeError(`user ${config.user} is root: refusing to keep running as root`);
  try {
    // In Node since 0.9 (POSIX), though @types/node does not declare it.
    (process as { initgroups?: (user: string, group: number) => void }).initgroups?.(config.user, ids.gid);
    process.setgid?.(ids.gid);
    process.setuid?.(ids.uid);
  } catch (err) {
    throw new PrivilegeError(`cannot become ${config.user}: ${(err as Error).message}`);
  }
  if (process.getuid?.() === 0 || process.geteuid?.() === 0) {
    throw new PrivilegeError(`still root after switching to ${config.user}: refusing to keep running`);
  }
  log.info({ user: config.user, uid: ids.uid, gid: ids.gid }, 'dropped privileges');
}
