// The process logger: pino, one JSON line per event on standard output (journald and log shippers read it as it
// is), or with --log-format pretty one readable line per event for a person at a terminal. Nothing logs on the hot
// path.

import pino from 'pino';
import type { Config } from './config/config.ts';

export type Logger = pino.Logger;

export function createLogger(config: Pick<Config, 'verbose' | 'logFormat'>): Logger {
  const options = { name: 'swarmd', level: config.verbose ? 'debug' : 'info', base: { pid: process.pid } };
  if (config.logFormat === 'json') return pino(options);
  return pino(options, { write: (line: string) => process.stdout.write(prettyLine(line)) });
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in the line's own columns or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

/**
 * One of pino's JSON lines as `2026-11-22T10:00:00.000Z INFO  message  key=value …`, with an error's stack on the
 * lines after it.
 */
export function prettyLine(json: string): string {
  let event: unknown;
  try {
    event = JSON.parse(json);
  } catch {
    return json;
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return json;
  return formatEvent(event as Record<string, unknown>);
}

function formatEvent(event: Record<string, unknown>): string {
  const time = typeof event.time === 'number' ? new Date(event.time).toISOString() : '';
  const level = (LEVELS[event.level as number] ?? String(event.level)).padEnd(5);
  let line = `${time} ${level} ${String(event.msg ?? '').replace(/[\r\n]+/g, ' ')}`;
  let stack = '';
  for (const [key, value] of Object.entries(event)) {
    if (HIDDEN.has(key)) continue;
    if (key === 'err' && typeof value === 'object' && value !== null) {
      const err = value as { message?: string; stack?: string };
      line += `  err=${JSON.stringify(err.message ?? '')}`;
      if (typeof err.stack === 'string') {
        for (const frame of err.stack.split('\n').slice(1)) stack += `\n    ${frame.trim()}`;
      }
      continue;
    }
    line += `  ${key}=${typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)}`;
  }
  return `${line}${stack}\n`;
}
