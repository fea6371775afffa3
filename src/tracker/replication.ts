// Replicated deltas between worker threads. Every worker keeps a full copy of the swarm, answers from it, and
// publishes each change it makes (an announce or a stop, with the inputs that decide its effect) to a ring in
// shared memory that only it writes, before it answers. Every other worker applies the same store calls before it
// reads its copy for a request (Tracker.catchUp), and every DRAIN_INTERVAL_MS when idle, so all copies converge and
// a request that follows an answered one sees its effect, whichever worker each reaches.
//
// Why copies, not one shared table: a worker then reads and writes plain local typed arrays with no locks, and the
// cost of a second worker is applying the other's announces (a store update, no reply, no parsing, no I/O), far less
// than answering them. The same records can later feed cluster sync between machines.
//
// Ring layout (a SharedArrayBuffer): a 64-byte header whose first Int32 is the count of records published (wrapping
// at 2^32), then `capacity` (a power of two) records of RECORD_SIZE bytes:
//   0 op (OP_ANNOUNCE | OP_STOP)   1 family   2 flags (FLAG_*)   3 unused
//   4..24 info hash   24..42 endpoint (6 bytes for IPv4, 18 for IPv6)   42..48 unused
// A reader more than `capacity` records behind has lost the oldest ones; it counts them and skips ahead (a lost
// announce comes back with the peer's next one).

import { ENDPOINT_SIZE, HASH_SIZE, type SwarmStore } from '../swarm/store.ts';

const HEADER_SIZE = 64;
const RECORD_SIZE = 48;
const OP_ANNOUNCE = 1;
const OP_STOP = 2;
const FLAG_SEEDER = 1;
const FLAG_PARTIAL = 2;
const FLAG_COMPLETED = 4;
const HASH_AT = 4;
const ENDPOINT_AT = 24;

/** How often an idle worker applies the others' changes, so that it never falls a whole ring behind. */
export const DRAIN_INTERVAL_MS = 100;
/** Records per ring: ~1.3 s of 100,000 announces a second, far above DRAIN_INTERVAL_MS. */
export const DEFAULT_RING_RECORDS = 1 << 17;

export function createRing(records = DEFAULT_RING_RECORDS): SharedArrayBuffer {
  if (records <= 0 || (records & (records - 1)) !== 0) throw new RangeError('ring records must be a power of two');
  return new SharedArrayBuffer(HEADER_SIZE + records * RECORD_SIZE);
}

function ringRecords(ring: SharedArrayBuffer): number {
  return (ring.byteLength - HEADER_SIZE) / RECORD_SIZE;
}

/** The writing end: one per worker, on its own ring. */
export class DeltaWriter {
  private readonly head: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;
  private seq: number;

  constructor(ring: SharedArrayBuffer) {
    this.head = new Int32Array(ring, 0, 1);
    this.bytes = new Uint8Array(ring);
    this.mask = ringRecords(ring) - 1;
    this.seq = Atomics.load(this.head, 0);
  }

  announce(
    hash: Uint8Array,
    family: number,
    endpoint: Uint8Array,
    seeder: boolean,
    partial: boolean,
    completed: boolean,
  ) {
    const flags = (seeder ? FLAG_SEEDER : 0) | (partial ? FLAG_PARTIAL : 0) | (completed ? FLAG_COMPLETED : 0);
    this.publish(OP_ANNOUNCE, family, flags, hash, endpoint);
  }

  stop(hash: Uint8Array, family: number, endpoint: Uint8Array): void {
    this.publish(OP_STOP, family, 0, hash, endpoint);
  }

  private publish(op: number, family: number, flags: number, hash: Uint8Array, endpoint: Uint8Array): void {
    const b = this.bytes;
    const at = HEADER_SIZE + (this.seq & this.mask) * RECORD_SIZE;
    b[at] = op;
    b[at + 1] = family;
    b[at + 2] = flags;
    for (let k = 0; k < HASH_SIZE; k++) b[at + HASH_AT + k] = hash[k];
    const n = ENDPOINT_SIZE[family];
    for (let k = 0; k < n; k++) b[at + ENDPOINT_AT + k] = endpoint[k];
    this.seq = (this.seq + 1) | 0;
    // The record's bytes happen-before this store; a reader that loads the new count sees them.
    Atomics.store(this.head, 0, this.seq);
  }
}

/** The reading end of another worker's ring. */
export class DeltaReader {
  private readonly head: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly capacity: number;
  private readonly mask: number;
  private cursor: number;
  private readonly hash = new Uint8Array(HASH_SIZE);
  private readonly endpoint = new Uint8Array(18);
  /** Records overwritten before this reader got to them. */
  lost = 0;

  /**
   * `from`: the count of the first record to apply. 0, the ring's first, by default and not the head now: workers
   * start one by one, and one that listens first may have answered (and published) announces before this reader is
   * made.
   */
  constructor(ring: SharedArrayBuffer, from = 0) {
    this.head = new Int32Array(ring, 0, 1);
    this.bytes = new Uint8Array(ring);
    this.capacity = ringRecords(ring);
    this.mask = this.capacity - 1;
    this.cursor = from | 0;
  }

  /** Applies the records published since the last drain to `store`; returns how many were applied. */
  drain(store: SwarmStore, now: number): number {
    // Up to the head seen now: a writer that keeps writing is caught up with at the next drain, not chased.
    const head = Atomics.load(this.head, 0);
    this.skipLost(head);
    let applied = 0;
    while (this.cursor !== head) {
      this.copy(this.cursor);
      // The writer may have lapped this record while it was copied: then it is torn; skip past what was lost.
      if (!this.skipLost(Atomics.load(this.head, 0))) break;
      this.apply(store, now);
      this.cursor = (this.cursor + 1) | 0;
      applied++;
    }
    return applied;
  }

  /** Moves the cursor past records the writer has overwritten; false when it had to. */
  private skipLost(head: number): boolean {
    const behind = (head - this.cursor) >>> 0;
    if (behind <= this.capacity - 1) return true;
    const skip = behind - (this.capacity - 1);
    this.lost += skip;
    this.cursor = (this.cursor + skip) | 0;
    return false;
  }

  private op = 0;
  private family = 0;
  private flags = 0;

  private copy(seq: number): void {
    const b = this.bytes;
    const at = HEADER_SIZE + (seq & this.mask) * RECORD_SIZE;
    this.op = b[at];
    this.family = b[at + 1];
    this.flags = b[at + 2];
    for (let k = 0; k < HASH_SIZE; k++) this.hash[k] = b[at + HASH_AT + k];
    for (let k = 0; k < 18; k++) this.endpoint[k] = b[at + ENDPOINT_AT + k];
  }

  private apply(store: SwarmStore, now: number): void {
    const family = this.family;
    if (family !== 0 && family !== 1) return;
    if (this.op === OP_STOP) {
      store.stop(this.hash, family, this.endpoint, now);
    } else if (this.op === OP_ANNOUNCE) {
      const f = this.flags;
      const seeder = (f & FLAG_SEEDER) !== 0;
      store.announce(
        this.hash,
        family,
        this.endpoint,
        seeder,
        (f & FLAG_PARTIAL) !== 0,
        (f & FLAG_COMPLETED) !== 0,
        now,
      );
    }
  }
}
