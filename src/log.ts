// The process logger: pino, one JSON line per event on standard output. Nothing logs on the hot path.

import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(verbose: boolean): Logger {
  return pino({ name: 'swarmd', level: verbose ? 'debug' : 'info', base: { pid: process.pid } });
}
