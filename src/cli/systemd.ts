// Service notifications for a systemd `Type=notify` unit (sd_notify(3)): READY=1 once serving, RELOADING=1/READY=1
// around a SIGHUP reload, STOPPING=1 at shutdown, STATUS= lines, and watchdog pings when the unit asks for them.
//
// Node has no Unix datagram sockets, so each message goes through the `systemd-notify` binary instead of a native
// npm addon. Since systemd 246 systemd-notify waits on a barrier until the manager has read the message, so the
// message is credited to this service although its sender exits at once. The sender is systemd-notify's own process,
// not this one, hence `NotifyAccess=all` in the unit (packaging/swarmd.service). Without $NOTIFY_SOCKET (not started
// by systemd, or not as Type=notify) every call does nothing and spawns nothing.

import { execFile } from 'node:child_process';
import type { Logger } from '../log.ts';

export interface Notifier {
  /** Start-up is over: every listener is bound and privileges are dropped. */
  ready(status: string): Promise<void>;
  /** A reload (SIGHUP) begins. */
  reloading(): Promise<void>;
  /** The reload is over, whatever came of it: the service runs again. */
  reloaded(status: string): Promise<void>;
  /** Shutdown begins; the watchdog pings stop. */
  stopping(): Promise<void>;
  /** The one-line status `systemctl status` shows. */
  status(text: string): Promise<void>;
}

export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read, and the child's environment: process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify binary, found on PATH by default. */
  command?: string;
  /** The longest any call's promise waits, in ms; a systemd-notify still running by then is killed. */
  timeoutMs?: number;
}

/** systemd-notify's own barrier gives up after 5 s, so waiting longer would gain nothing. */
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A notifier for this process. Messages are sent one after another, in call order. Every returned promise resolves
 * (never rejects) once its message is sent or failed, and at the latest `timeoutMs` after the call, so that awaiting
 * one can never hold shutdown up for longer. The first failure is logged at warn, later ones at debug.
 */
export function createNotifier(log: Logger, options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const command = options.command ?? 'systemd-notify';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const enabled = (env.NOTIFY_SOCKET ?? '') !== '';
  let queue = Promise.resolve();
  let failed = false;

  const reportFailure = (lines: string[], reason: string) => {
    const fields = { message: lines.join(' '), reason };
    if (failed) {
      log.debug(fields, 'systemd notification failed');
      return;
    }
    failed = true;
    log.warn(fields, 'systemd notification failed (further failures are logged at debug level)');
  };

  const run = (lines: string[]) =>
    new Promise<void>((resolve) => {
      try {
        execFile(command, lines, { env, timeout: timeoutMs }, (err, _stdout, stderr) => {
          if (err !== null) {
            const timedOut = err.killed === true;
            reportFailure(lines, timedOut ? `no answer within ${timeoutMs} ms` : stderr.trim() || err.message);
          }
          resolve();
        });
      } catch (err) {
        reportFailure(lines, (err as Error).message);
        resolve();
      }
    });

  const send = (lines: string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    const sent = queue.then(() => run(lines));
    queue = sent;
    return atMost(sent, timeoutMs);
  };

  const watchdog = startWatchdog(env, enabled, send);

  return {
    ready: (status) => send(['READY=1', statusLine(status)]),
    reloading: () => send(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]),
    reloaded: (status) => send(['READY=1', statusLine(status)]),
    stopping: () => {
      clearInterval(watchdog);
      return send(['STOPPING=1']);
    },
    status: (text) => send([statusLine(text)]),
  };
}

/**
 * With `WatchdogSec=` in the unit, systemd sets WATCHDOG_USEC (and WATCHDOG_PID, the main process) and restarts the
 * service when no WATCHDOG=1 comes within that time; pinging at half of it is sd_watchdog_enabled(3)'s advice. The
 * timer runs on the main thread's event loop, so a blocked loop stops the pings. Unref'd: it keeps nothing alive.
 */
function startWatchdog(
  env: NodeJS.ProcessEnv,
  enabled: boolean,
  send: (lines: string[]) => Promise<void>,
): NodeJS.Timeout | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  if (!enabled || !forUs || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  let pinging = false;
  return setInterval(
    () => {
      // A ping still waiting on a slow systemd-notify is as good as a new one; don't pile them up.
      if (pinging) return;
      pinging = true;
      send(['WATCHDOG=1']).then(() => {
        pinging = false;
      });
    },
    Math.max(1, Math.floor(usec / 2000)),
  ).unref();
}

/** STATUS= on one line: a newline would start another KEY=VALUE assignment in the message. */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/\p{Cc}+/gu, ' ')}`;
}

/** Resolves when `promise` does or `ms` after the call, whichever comes first. */
function atMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms).unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
