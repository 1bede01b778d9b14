// The table of blob id prefixes a backup's chunking lanes consult (BlobIndex.idPrefixes builds it):
// the first 8 bytes of each id, little-endian, in open addressing with linear probing from the
// prefix's low 32 bits, 0 for an empty slot and a prefix of 0 stored as 1. The lanes read it in C
// (native/chunk_files.c, known()) while the main thread adds to it (ChunkPool.stored).

/** The table's key for the blob `id`. */
export function idPrefix(id: Uint8Array): bigint {
  return Buffer.from(id.buffer, id.byteOffset, 8).readBigUInt64LE(0) || 1n;
}

/** The prefix's first slot: its low bits (tables have far fewer than 2^32 slots). No BigInt is made for the mask. */
function homeSlot(prefix: bigint, mask: number): number {
  return Number(BigInt.asUintN(32, prefix)) & mask;
}

/**
 * Adds `prefix`; false when it was there already. The caller keeps the table at most half full,
 * so that every probe ends. Lanes may be reading the table meanwhile: a slot they read
 * half-written only decides whether one chunk is compressed, never which blob it is. (An atomic
 * store made building the table for a big index nearly twice as slow: 2M ids, 140 -> 250 ms.)
 */
export function addIdPrefix(table: BigUint64Array, prefix: bigint): boolean {
  const mask = table.length - 1;
  let s = homeSlot(prefix, mask);
  for (; table[s] !== 0n; s = (s + 1) & mask) if (table[s] === prefix) return false;
  table[s] = prefix;
  return true;
}
