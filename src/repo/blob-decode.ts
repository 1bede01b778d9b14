// A blob from its sealed bytes, without a Repository: what a worker thread needs to decode blobs
// (restore's writers), given the key of the blob's pack as bytes. Loads no zod and no storage.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { decompressBlob } from '../lib/zstd.ts';
import { AuthenticationError } from './crypto.ts';
import { openBlob, COMPRESSION_ZSTD } from './pack.ts';

export { fileKeyBytes } from './crypto.ts';

/** Where a blob lies in its pack and what it decodes to. */
export interface SealedBlobPlace {
  /** Offset in the pack: the nonce is bound to it. */
  offset: number;
  compression: number;
  rawLength: number;
}

const keys = new Map<string, KeyObject>();

function keyObject(packKey: Uint8Array): KeyObject {
  const hex = Buffer.from(packKey).toString('hex');
  let key = keys.get(hex);
  if (!key) {
    if (keys.size > 1024) keys.clear();
    keys.set(hex, (key = createSecretKey(packKey)));
  }
  return key;
}

/**
 * Decrypts and decompresses one blob; undefined when it does not authenticate (damaged, or not
 * this blob), for the caller to report in its own words.
 */
export function decodeSealedBlob(packKey: Uint8Array, id: Buffer, place: SealedBlobPlace, sealed: Uint8Array): Buffer | undefined {
  let plain: Buffer;
  try {
    plain = openBlob(keyObject(packKey), id, place.offset, sealed);
  } catch (err) {
    if (err instanceof AuthenticationError) return undefined;
    throw err;
  }
  return place.compression === COMPRESSION_ZSTD ? decompressBlob(plain, place.rawLength) : plain;
}
