// opentracker's access-list format: a line that starts with 40 hex digits (either case) followed by the end of the line
// or a non-hex character is a hash, and the rest of it is free text; blank lines and lines whose first non-blank
// character is `#` are comments. opentracker skips every other line silently; here each one is a problem with its line
// number, so that the operator learns that a hash was mistyped, and a reload can refuse a half-written file.

import { HashSet } from './hash-set.ts';

export interface HashListProblem {
  line: number;
  reason: string;
}

export interface ParsedHashList {
  hashes: HashSet;
  problems: HashListProblem[];
}

/** Problems listed one by one; beyond this, one more entry counts the rest (a binary file must not make millions). */
const MAX_LISTED_PROBLEMS = 100;
const HEX_DIGITS = 40;
const LF = 0x0a;
const CR = 0x0d;
const HASH_SIGN = 0x23;

/** The value of each byte as a hex digit, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[0x41 + d] = 10 + d;
  HEX[0x61 + d] = 10 + d;
}

const isBlank = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0b || b === 0x0c;

/**
 * Parses an access list. Two passes over the text, the first to check and count and the second to decode, so the only
 * memory beyond the text is 20 bytes per hash (and the problems, at most 101).
 */
export function parseHashList(text: Uint8Array): ParsedHashList {
  const problems: HashListProblem[] = [];
  let unlisted = 0;
  let firstUnlisted = 0;
  let count = 0;
  forEachLine(text, (start, end, line, last) => {
    if (hexRun(text, start, end) === HEX_DIGITS) {
      count++;
      return;
    }
    const reason = lineProblem(text, start, end, last);
    if (reason === null) return;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push({ line, reason });
    else if (unlisted++ === 0) firstUnlisted = line;
  });
  if (unlisted > 0)
    problems.push({ line: firstUnlisted, reason: `${unlisted} more problems from here on, not listed` });

  const bytes = Buffer.allocUnsafe(count * 20);
  let at = 0;
  forEachLine(text, (start, end) => {
    if (hexRun(text, start, end) !== HEX_DIGITS) return;
    for (let i = 0; i < HEX_DIGITS; i += 2) bytes[at++] = (HEX[text[start + i]] << 4) | HEX[text[start + i + 1]];
  });
  return { hashes: new HashSet(bytes), problems };
}

/** Calls `visit` with each line's bounds, its trailing `\r` (of a `\r\n`) excluded, and its 1-based number. */
function forEachLine(text: Uint8Array, visit: (start: number, end: number, line: number, last: boolean) => void): void {
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

/** The number of hex digits the line starts with (41 means more than 40): a line is a hash when it is 40. */
function hexRun(text: Uint8Array, start: number, end: number): number {
  const stop = Math.min(end, start + HEX_DIGITS + 1);
  let i = start;
  while (i < stop && HEX[text[i]] >= 0) i++;
  return i - start;
}

/** For a line that is not a hash: null for a comment or a blank line, else what is wrong with it. */
function lineProblem(text: Uint8Array, start: number, end: number, last: boolean): string | null {
  const digits = hexRun(text, start, end);
  if (digits === 0) {
    let i = start;
    while (i < end && isBlank(text[i])) i++;
    if (i === end || text[i] === HASH_SIGN) return null;
    if (i > start) return `${excerpt(text, start, end)} is not a hash: a hash starts in column 1`;
  }
  const next = start + digits;
  if (digits > HEX_DIGITS || next === end || isBlank(text[next])) {
    const found = digits > HEX_DIGITS ? `more than ${HEX_DIGITS}` : String(digits);
    const reason = `expected ${HEX_DIGITS} hex digits, found ${found}`;
    return last && next === end ? `${reason} (the last line has no newline: is the file still being written?)` : reason;
  }
  return `${excerpt(text, start, end)} is not a hash: non-hex character ${show(text, next, next + 1)} at column ${digits + 1}`;
}

/** The start of a line, quoted for a log message. */
function excerpt(text: Uint8Array, start: number, end: number): string {
  const shown = Math.min(end, start + 16);
  return `'${show(text, start, shown, '')}${shown < end ? '…' : ''}'`;
}

/** Bytes as printable ASCII, others as \xNN, between quotes. */
function show(text: Uint8Array, start: number, end: number, quote = "'"): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = text[i];
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${quote}${s}${quote}`;
}
