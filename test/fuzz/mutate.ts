// Generators shared by the fuzz targets: structured-but-mutated inputs. A valid message is edited a few times — bytes
// set or bit-flipped, tokens inserted (each target brings the tokens its parser cares about: CR/LF, NUL, percent
// escapes, huge numbers, bencode markers), ranges deleted or duplicated, long runs inserted, the tail cut — so that
// most inputs get past the first check of a parser and reach the deeper ones.

import fc from 'fast-check';

export const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Tokens every byte parser should meet: line ends, NUL, DEL, high bytes, and numbers past 32, 53 and 64 bits. */
export const COMMON_TOKENS = [
  '\r\n',
  '\n',
  '\r',
  '\0',
  '\x7f',
  '\x80',
  '\xff',
  ' ',
  '\t',
  '-',
  '0',
  '-0',
  '-1',
  '4294967296',
  '9007199254740993',
  '18446744073709551616',
  '99999999999999999999999999999999',
] as const;

/** One edit; positions and lengths are taken modulo the message as it is when the edit applies. */
export type Edit =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'repeat'; at: number; text: string; times: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'truncate'; at: number };

function edit(tokens: readonly string[]): fc.Arbitrary<Edit> {
  const at = fc.nat();
  const token = fc.oneof(
    fc.constantFrom(...tokens, ...COMMON_TOKENS),
    fc.string({ unit: 'binary-ascii', maxLength: 4 }),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('set'), at, byte: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip'), at, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert'), at, text: token }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('repeat'), at, text: token, times: fc.integer({ min: 2, max: 3000 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete'), at, length: fc.integer({ min: 1, max: 8 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('duplicate'), at, length: fc.integer({ min: 1, max: 64 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate'), at }) },
  );
}

/** Applies the edits in `list` to a copy of `bytes`. */
export function applyEdits(bytes: Uint8Array, list: readonly Edit[]): Buffer {
  let out = Buffer.from(bytes);
  for (const e of list) {
    const at = e.at % (out.length + 1);
    const inside = Math.min(at, out.length - 1);
    switch (e.kind) {
      case 'set':
        if (out.length > 0) out[inside] = e.byte;
        break;
      case 'flip':
        if (out.length > 0) out[inside] ^= 1 << e.bit;
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), latin1(e.text), out.subarray(at)]);
        break;
      case 'repeat':
        out = Buffer.concat([out.subarray(0, at), latin1(e.text.repeat(e.times)), out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + e.length)]);
        break;
      case 'duplicate':
        out = Buffer.concat([out.subarray(0, at + e.length), out.subarray(at)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}

/** 1 to `maxEdits` edits inserting `tokens` and COMMON_TOKENS among others; one time in four none at all. */
export function edits(tokens: readonly string[], maxEdits = 4): fc.Arbitrary<Edit[]> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Edit[]>([]) },
    { weight: 3, arbitrary: fc.array(edit(tokens), { minLength: 1, maxLength: maxEdits }) },
  );
}

/** `valid` edited by edits(tokens): mostly mutated, sometimes intact so that the valid path stays in the mix. */
export function mutated(valid: fc.Arbitrary<Uint8Array>, tokens: readonly string[]): fc.Arbitrary<Buffer> {
  return fc.tuple(valid, edits(tokens)).map(([bytes, e]) => applyEdits(bytes, e));
}

/** Arbitrary bytes, and runs of `tokens` mixed with arbitrary bytes (which reach further into a parser). */
export function hostile(tokens: readonly string[], maxLength = 300): fc.Arbitrary<Buffer> {
  const piece = fc.oneof(fc.constantFrom(...tokens, ...COMMON_TOKENS), fc.string({ unit: 'binary', maxLength: 3 }));
  return fc.oneof(
    fc.uint8Array({ maxLength }).map((b) => Buffer.from(b)),
    fc.array(piece, { maxLength: maxLength / 4 }).map((pieces) => latin1(pieces.join(''))),
  );
}

/** `n` bytes. */
export const bytes = (n: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));

/** Every byte as %XX, with upper- or lower-case hex. */
export function percentEncode(raw: Uint8Array, lower = false): string {
  const hex = Buffer.from(raw).toString('hex');
  return (lower ? hex : hex.toUpperCase()).replace(/../g, '%$&');
}
