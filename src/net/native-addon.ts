// Loading the native I/O addons (native/*.c, built at install by scripts/build-native.ts). An addon is optional: when
// it is missing, cannot load, or SWARMD_NO_NATIVE is set, the loader says why and the caller uses Node's own sockets.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Loaded<T> {
  /** The addon, or null when it cannot be used here. */
  addon: T | null;
  /** Why `addon` is null; null when it loaded. */
  error: string | null;
}

/** Loads build/Release/`name`.node and checks that it exports the function `entry`. */
export function loadNativeAddon<T>(name: string, entry: string): Loaded<T> {
  const file = fileURLToPath(new URL(`../../build/Release/${name}.node`, import.meta.url));
  const off = process.env.SWARMD_NO_NATIVE;
  if (off !== undefined && off !== '' && off !== '0') return { addon: null, error: 'disabled by SWARMD_NO_NATIVE' };
  if (process.platform !== 'linux') return { addon: null, error: `needs Linux, this is ${process.platform}` };
  if (!existsSync(file)) {
    return { addon: null, error: `not built (${file} is missing; run: node scripts/build-native.ts)` };
  }
  try {
    const addon = createRequire(import.meta.url)(file) as Record<string, unknown>;
    if (typeof addon?.[entry] !== 'function') return { addon: null, error: `${file} has no ${entry}()` };
    return { addon: addon as T, error: null };
  } catch (err) {
    return { addon: null, error: `${file} did not load: ${String((err as Error)?.message ?? err).split('\n')[0]}` };
  }
}
