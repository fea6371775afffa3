// The per-torrent numbers of the store and of both peer pools, side by side: one record of RECORD_WORDS 32-bit words
// per torrent id, in one Int32Array shared by the store and the pools. An announce reads its torrent's info hash, its
// times and both families' block descriptors from these 64 bytes (one or two cache lines, by the array's alignment)
// instead of from a line of each of a dozen arrays; a scrape of many torrents reads a record for each.
//
// Words of a record:
//   0-4    the info hash: each word four of its bytes, the first byte lowest
//   5      when the torrent last had an announce: clock seconds, negative before the clock's origin
//   6      completed downloads counted (unsigned)
//   7      when the torrent was last swept: clock seconds
//   8-11   the IPv4 pool's block descriptor (POOL_* offsets from RECORD_POOL[0])
//   12-15  the IPv6 pool's

export const RECORD_WORDS = 16;
export const R_HASH = 0;
export const R_LAST_ACTIVE = 5;
export const R_DOWNLOADED = 6;
export const R_LAST_SWEPT = 7;
/** Where each family's pool keeps its block descriptor in a record. */
export const RECORD_POOL = [8, 12] as const;

/** Offsets of a block descriptor's numbers from its pool's RECORD_POOL word. */
export const POOL_START = 0; // the block's first slot, or -1 for none
export const POOL_COUNT = 1; // peers in the block
export const POOL_DOWNLOADERS = 2; // downloaders: the first ones of the block
export const POOL_PARTIALS = 3; // partial seeds, inside the upload-only part
