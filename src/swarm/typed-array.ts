// Growing and dropping the store's typed arrays without leaving garbage behind.
//
// The store's arrays hold tens of megabytes. A replaced array is only freed when V8 next collects its (old) wrapper,
// which may be long after, and meanwhile RSS carries both copies. ArrayBuffer.prototype.transfer hands the memory
// over at once: grown in place when the allocator can (realloc), and the old buffer detached either way.

type TypedArray = Uint8Array | Int8Array | Uint16Array | Int32Array | Uint32Array;
type TypedArrayConstructor<T> = new (buffer: ArrayBuffer) => T;

/** `old` with room for `length` elements (contents kept, new elements set to `fill`); `old` is unusable after. */
export function grow<T extends TypedArray>(old: T, length: number, fill = 0): T {
  const Ctor = old.constructor as TypedArrayConstructor<T>;
  const oldLength = old.length;
  const next = new Ctor((old.buffer as ArrayBuffer).transfer(length * old.BYTES_PER_ELEMENT));
  if (fill !== 0) next.fill(fill, oldLength);
  return next;
}

/** Frees `array`'s memory now instead of at some later collection; `array` is unusable after. */
export function discard(array: TypedArray): void {
  (array.buffer as ArrayBuffer).transfer(0);
}
