// A blob from its sealed bytes, without a Repository: what a worker thread needs to decode blobs
// (restore's writers), given the key of the blob's pack as bytes (Repository.packKey). Loads no
// validation library and no storage.
import { freeNow } from '../lib/bytes.ts';
import { decompressBlob } from '../lib/zstd.ts';
import { openBlobWithKeyBytes, COMPRESSION_ZSTD } from './pack.ts';

/** Where a blob lies in its pack and what it decodes to. */
export interface SealedBlobPlace {
  /** Offset in the pack: the nonce is bound to it. */
  offset: number;
  compression: number;
  rawLength: number;
}

/**
 * Decrypts and decompresses one blob; undefined when it does not authenticate (damaged, or not
 * this blob), for the caller to report in its own words.
 */
export function decodeSealedBlob(packKey: Uint8Array, id: Buffer, place: SealedBlobPlace, sealed: Uint8Array): Buffer | undefined {
  const plain = openBlobWithKeyBytes(packKey, id, place.offset, sealed);
  if (!plain) return undefined;
  if (place.compression !== COMPRESSION_ZSTD) return plain;
  const raw = decompressBlob(plain, place.rawLength);
  freeNow(plain);
  return raw;
}
