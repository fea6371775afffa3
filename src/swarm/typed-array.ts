// Growing typed arrays: the store's tables double when full and keep their contents.

type TypedArray = Uint8Array | Int8Array | Uint16Array | Int32Array | Uint32Array;

/** A copy of `old` with room for `length` elements; new elements are set to `fill`. */
export function grow<T extends TypedArray>(old: T, length: number, fill = 0): T {
  const Ctor = old.constructor as new (n: number) => T;
  const next = new Ctor(length);
  next.set(old as never);
  if (fill !== 0) next.fill(fill, old.length);
  return next;
}
