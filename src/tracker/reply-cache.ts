// Replies kept for peers that announce again before `min interval` is over: the next such announce gets the kept
// reply, and the swarm is not touched (no update, no peer selection). Bots announcing one torrent many times a
// second then cost a table lookup and a copy each.
//
// A reply is kept only once a peer has shown it re-announces early (the store reports the age of its previous
// announce), so honest clients, which wait `interval`, never fill the table. The table has a fixed number of entries
// with a fixed slot for the reply bytes: a set-associative cache in which an entry past `min interval` is free, and
// otherwise the oldest of the set makes room.

import { randomBytes } from 'node:crypto';
import { halfSipHash24 } from './halfsiphash.ts';

const WAYS = 4;
/** Info hash, endpoint (up to 18 bytes), and two bytes for the reply's variant (protocol, seeder, peers wanted…). */
const KEY_BYTES = 20 + 18 + 2;

export class ReplyCache {
  /** The longest reply kept, in bytes. */
  readonly slotBytes: number;
  private readonly sets: number;
  private readonly keys: Uint8Array;
  private readonly keyLengths: Uint8Array;
  /** Clock second the reply was kept; 0: empty. */
  private readonly keptAt: Uint32Array;
  private readonly lengths: Uint16Array;
  private readonly replies: Uint8Array;
  private readonly key = new Uint8Array(KEY_BYTES);
  private keyLength = 0;
  private readonly k0: number;
  private readonly k1: number;
  /** Entries ever filled (expired ones stay counted): while it is 0 the handlers skip the lookup. */
  size = 0;

  /** `entries`: a multiple of 4; `slotBytes`: at most 65,535. */
  constructor(entries: number, slotBytes: number) {
    this.sets = entries / WAYS;
    this.slotBytes = slotBytes;
    this.keys = new Uint8Array(entries * KEY_BYTES);
    this.keyLengths = new Uint8Array(entries);
    this.keptAt = new Uint32Array(entries);
    this.lengths = new Uint16Array(entries);
    this.replies = new Uint8Array(entries * slotBytes);
    const seed = new Uint32Array(randomBytes(8).buffer);
    this.k0 = seed[0];
    this.k1 = seed[1];
  }

  /**
   * Sets the key of the next find() or keep(): the torrent `hash[off…off+20]`, the peer's compact `endpoint` (6 or 18
   * bytes) and the reply's `variant` (0 to 65,535).
   */
  setKey(hash: Uint8Array, off: number, endpoint: Uint8Array, endpointLength: number, variant: number): void {
    const key = this.key;
    for (let k = 0; k < 20; k++) key[k] = hash[off + k];
    for (let k = 0; k < endpointLength; k++) key[20 + k] = endpoint[k];
    key[20 + endpointLength] = variant >> 8;
    key[21 + endpointLength] = variant & 0xff;
    this.keyLength = 22 + endpointLength;
  }

  /** The entry holding the key's reply kept less than `maxAge` seconds before `now`, or -1. */
  find(now: number, maxAge: number): number {
    const first = this.firstOfSet();
    for (let e = first; e < first + WAYS; e++) {
      if (this.keptAt[e] !== 0 && now - this.keptAt[e] < maxAge && this.keyEquals(e)) return e;
    }
    return -1;
  }

  /** The bytes of entry `e`'s reply (a view, valid until the next keep()). */
  reply(e: number): Uint8Array {
    const at = e * this.slotBytes;
    return this.replies.subarray(at, at + this.lengths[e]);
  }

  /** Keeps `bytes[from, to)` as the key's reply at `now`; a reply longer than slotBytes is not kept. */
  keep(now: number, maxAge: number, bytes: Uint8Array, from: number, to: number): void {
    if (to - from > this.slotBytes) return;
    const first = this.firstOfSet();
    let entry = first;
    for (let e = first; e < first + WAYS; e++) {
      // The same key, a free or expired entry, else the oldest.
      if (this.keptAt[e] !== 0 && this.keyEquals(e)) {
        entry = e;
        break;
      }
      if (this.keptAt[e] === 0 || now - this.keptAt[e] >= maxAge) entry = e;
      else if (this.keptAt[entry] !== 0 && this.keptAt[e] < this.keptAt[entry]) entry = e;
    }
    if (this.keptAt[entry] === 0) this.size++;
    this.keys.set(this.key.subarray(0, this.keyLength), entry * KEY_BYTES);
    this.keyLengths[entry] = this.keyLength;
    this.keptAt[entry] = now;
    this.lengths[entry] = to - from;
    this.replies.set(bytes.subarray(from, to), entry * this.slotBytes);
  }

  private firstOfSet(): number {
    return (halfSipHash24(this.k0, this.k1, this.key, 0, this.keyLength) % this.sets) * WAYS;
  }

  private keyEquals(e: number): boolean {
    const n = this.keyLength;
    if (this.keyLengths[e] !== n) return false;
    const at = e * KEY_BYTES;
    for (let k = 0; k < n; k++) if (this.keys[at + k] !== this.key[k]) return false;
    return true;
  }
}
