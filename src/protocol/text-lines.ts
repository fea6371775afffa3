// Line-oriented text files of hex info hashes (access lists, statedumps): walking the lines, decoding a hash, and
// reporting bad lines in a bounded list with excerpts that are safe to log.

import { hexValue } from './query.ts';

const LF = 0x0a;
const CR = 0x0d;

/** Problems listed one by one; beyond this, one more entry counts the rest (a binary file must not make millions). */
const MAX_LISTED_PROBLEMS = 100;

export interface LineProblem {
  line: number;
  reason: string;
}

/** Calls `visit` with each line's bounds, its trailing `\r` (of a `\r\n`) excluded, and its 1-based number. */
export function forEachLine(
  text: Uint8Array,
  visit: (start: number, end: number, line: number, last: boolean) => void,
): void {
  let line = 1;
  for (let start = 0; start < text.length; line++) {
    let nl = text.indexOf(LF, start);
    const last = nl < 0;
    if (last) nl = text.length;
    const end = nl > start && text[nl - 1] === CR ? nl - 1 : nl;
    visit(start, end, line, last);
    start = nl + 1;
  }
}

/** How many hex digits `text[start, end)` starts with, counting at most `max`. */
export function hexDigits(text: Uint8Array, start: number, end: number, max: number): number {
  const stop = Math.min(end, start + max);
  let i = start;
  while (i < stop && hexValue(text[i]) >= 0) i++;
  return i - start;
}

/** Decodes the 40 hex digits at `text[start]` (checked by the caller) into 20 bytes at `out[off]`. */
export function decodeHexHash(text: Uint8Array, start: number, out: Uint8Array, off: number): void {
  for (let b = 0; b < 20; b++) out[off + b] = (hexValue(text[start + 2 * b]) << 4) | hexValue(text[start + 2 * b + 1]);
}

export const isBlank = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0b || b === 0x0c;

/** Bytes as printable ASCII, others as \xNN, between quotes. */
export function show(text: Uint8Array, start: number, end: number, quote = "'"): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = text[i];
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${quote}${s}${quote}`;
}

/** At most 16 bytes from `start`, quoted, with an ellipsis when there is more. */
export function excerpt(text: Uint8Array, start: number, end: number): string {
  const shown = Math.min(end, start + 16);
  return `'${show(text, start, shown, '')}${shown < end ? '…' : ''}'`;
}

/** The bad lines of a file: the first MAX_LISTED_PROBLEMS, then one entry counting the rest. */
export class LineProblems {
  readonly list: LineProblem[] = [];
  /** Every problem, listed or not. */
  total = 0;

  add(line: number, reason: string): void {
    if (this.total < MAX_LISTED_PROBLEMS) this.list.push({ line, reason });
    else if (this.total === MAX_LISTED_PROBLEMS) this.list.push({ line, reason: '' }); // counted in finish()
    this.total++;
  }

  /** The list, its last entry counting what was not listed. */
  finish(): LineProblem[] {
    if (this.total > MAX_LISTED_PROBLEMS) {
      this.list[MAX_LISTED_PROBLEMS].reason =
        `${this.total - MAX_LISTED_PROBLEMS} more problems from here on, not listed`;
    }
    return this.list;
  }
}
