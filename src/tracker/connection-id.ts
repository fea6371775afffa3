// Stateless UDP connection ids (BEP 15). An id is the two-minute window it was made in (high 32 bits) and a keyed
// MAC of that window and the client's address (low 32 bits). Nothing is stored per client; an id from a spoofed
// source cannot be guessed, and it is accepted only in its own window and the next one (2 to 4 minutes), and in the
// last CLOCK_SKEW_SECONDS before its own: workers share the key and the clock's origin, but each reads its own cached
// clock, so at a window's start the worker that issued an id may be a moment ahead of the one that receives it.

import { randomBytes } from 'node:crypto';
import { halfSipHash24 } from './halfsiphash.ts';

export const WINDOW_SECONDS = 120;
/** How far the clock of the worker that issued an id may be ahead of this one's (timer ticks, busy event loops). */
export const CLOCK_SKEW_SECONDS = 5;

export class ConnectionIds {
  private readonly k0: number;
  private readonly k1: number;
  private readonly message = new Uint8Array(4 + 16);

  constructor(key: Uint8Array = randomBytes(8)) {
    this.k0 = key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24);
    this.k1 = key[4] | (key[5] << 8) | (key[6] << 16) | (key[7] << 24);
  }

  /** The window an id made at `now` (seconds) belongs to. */
  window(now: number): number {
    return Math.floor(now / WINDOW_SECONDS) >>> 0;
  }

  /** The MAC half of the id for `address` (4 or 16 bytes at `addr[0…]`) in `window`. */
  mac(window: number, addr: Uint8Array, addrLength: number): number {
    const m = this.message;
    m[0] = window >>> 24;
    m[1] = window >>> 16;
    m[2] = window >>> 8;
    m[3] = window;
    for (let i = 0; i < addrLength; i++) m[4 + i] = addr[i];
    return halfSipHash24(this.k0, this.k1, m, 0, 4 + addrLength);
  }

  /**
   * True when (hi, lo) is an id this tracker gave `addr` in the current or the previous window, or in the next one
   * when it opens within CLOCK_SKEW_SECONDS.
   */
  verify(hi: number, lo: number, addr: Uint8Array, addrLength: number, now: number): boolean {
    const current = this.window(now);
    if (hi !== current && hi !== current - 1 && hi !== this.window(now + CLOCK_SKEW_SECONDS)) return false;
    return this.mac(hi, addr, addrLength) === lo;
  }
}
