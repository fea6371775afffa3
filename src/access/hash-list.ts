// opentracker's access-list format: a line that starts with 40 hex digits (either case) followed by the end of the line
// or a non-hex character is a hash, and the rest of it is free text; blank lines and lines whose first non-blank
// character is `#` are comments. opentracker skips every other line silently; here each one is a problem with its line
// number, so that the operator learns that a hash was mistyped, and a reload can refuse a half-written file.

import {
  decodeHexHash,
  excerpt,
  forEachLine,
  hexDigits,
  isBlank,
  type LineProblem,
  LineProblems,
  show,
} from '../protocol/text-lines.ts';
import { HashSet } from './hash-set.ts';

export type HashListProblem = LineProblem;

export interface ParsedHashList {
  hashes: HashSet;
  problems: HashListProblem[];
}

const HEX_DIGITS = 40;
const HASH_SIGN = 0x23;

/**
 * Parses an access list. Two passes over the text, the first to check and count and the second to decode, so the only
 * memory beyond the text is 20 bytes per hash (and the problems, at most 101).
 */
export function parseHashList(text: Uint8Array): ParsedHashList {
  const problems = new LineProblems();
  let count = 0;
  forEachLine(text, (start, end, line, last) => {
    if (hexRun(text, start, end) === HEX_DIGITS) {
      count++;
      return;
    }
    const reason = lineProblem(text, start, end, last);
    if (reason !== null) problems.add(line, reason);
  });

  const bytes = Buffer.allocUnsafe(count * 20);
  let at = 0;
  forEachLine(text, (start, end) => {
    if (hexRun(text, start, end) !== HEX_DIGITS) return;
    decodeHexHash(text, start, bytes, at);
    at += 20;
  });
  return { hashes: new HashSet(bytes), problems: problems.finish() };
}

/** The number of hex digits the line starts with (41 means more than 40): a line is a hash when it is 40. */
function hexRun(text: Uint8Array, start: number, end: number): number {
  return hexDigits(text, start, end, HEX_DIGITS + 1);
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
