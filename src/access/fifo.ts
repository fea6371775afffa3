// opentracker's dynamic access lists (`access.fifo_add`, `access.fifo_delete`): a program writes hex info hashes, one
// per line, into a named pipe, and they join (or leave) the access list at once, until the next SIGHUP reloads the
// list file and clears them.
//
// The FIFO is opened read-write and non-blocking: opening it read-only would block (a libuv pool thread) until a
// writer appears, and would see end-of-file each time a writer closes. Read-write, it never does either; the fd is
// read as a pipe stream, so nothing blocks the event loop.

import { constants, openSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../log.ts';
import { parseHashList } from './hash-list.ts';
import { HashSet } from './hash-set.ts';

/** Most hashes one changeset holds until the next SIGHUP; more are refused with a warning. */
const MAX_HASHES = 1 << 20;
/** A line longer than this is not a hash line; it is dropped without being buffered further. */
const MAX_LINE = 1024;

/**
 * Reads lines from the FIFO at `path` and hands each batch of complete lines to `onLines`; returns a function that
 * stops reading. An error (no such file, not a FIFO) is logged and nothing is read. With several workers the main
 * thread reads (a FIFO's bytes go to one reader only) and passes the lines on to every worker.
 */
export function readFifo(path: string, log: Logger, onLines: (text: string) => void): () => void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    log.error({ file: path, reason: (err as Error).message }, 'cannot open the access FIFO');
    return () => {};
  }
  const socket = new net.Socket({ fd, readable: true, writable: false });
  socket.setEncoding('latin1');
  let partial = '';
  socket.on('data', (chunk: string) => {
    const text = partial + chunk;
    const end = text.lastIndexOf('\n');
    partial = text.slice(end + 1);
    if (partial.length > MAX_LINE) partial = '';
    if (end >= 0) onLines(text.slice(0, end + 1));
  });
  socket.on('error', (err) => log.error({ file: path, reason: err.message }, 'access FIFO failed'));
  // The FIFO must not keep the process alive on its own.
  socket.unref();
  return () => socket.destroy();
}

/** The hashes written to one FIFO since the last SIGHUP. */
export class HashChangeset {
  readonly path: string;
  current: HashSet = HashSet.EMPTY;
  private readonly log: Logger;
  private readonly hashes = new Map<string, Buffer>();

  constructor(path: string, log: Logger) {
    this.path = path;
    this.log = log;
  }

  /** Takes complete lines read from the FIFO: each a hash in the access-list format; other lines are reported. */
  addLines(text: string): void {
    const { hashes, problems } = parseHashList(Buffer.from(text, 'latin1'));
    for (const p of problems) this.log.warn({ file: this.path, reason: p.reason }, 'access FIFO: not a hash line');
    let added = 0;
    for (const hash of hashes.values()) {
      const key = hash.toString('latin1');
      if (this.hashes.has(key)) continue;
      if (this.hashes.size >= MAX_HASHES) {
        this.log.warn({ file: this.path, max: MAX_HASHES }, 'access FIFO: changeset full until the next SIGHUP');
        break;
      }
      this.hashes.set(key, Buffer.from(hash));
      added++;
    }
    if (added === 0) return;
    this.current = new HashSet(Buffer.concat([...this.hashes.values()]));
    this.log.info({ file: this.path, hashes: this.hashes.size }, 'access FIFO changeset updated');
  }

  /** Forgets every hash written so far (SIGHUP: the list file is the truth again). */
  clear(): void {
    this.hashes.clear();
    this.current = HashSet.EMPTY;
  }
}
