// check --read-data's verifying of whole packs (SHA-256 of the file, the header, every blob's
// decryption, decompression and MAC), one per core at once. The reading, hashing and the blob
// loop run on libuv's thread pool (native/verify_blobs.c); the header is read here. A pack on
// this machine's disks is verified as it is read, through a window of its largest blob; others
// are read whole, ahead, by the caller. Until stop 19, worker threads did this (docs/performance.md).
import { availableParallelism } from 'node:os';
import { processBudget } from '../lib/budget.ts';
import { Limiter } from '../lib/limiter.ts';
import { nativeAddon } from '../lib/native-addon.ts';
import type { RepositoryKeys } from './crypto.ts';
import { verifyPackBytes, verifyPackFile, type BlobPlace, type PackProblem } from './pack-check.ts';

export class VerifyPool {
  readonly #native = nativeAddon();
  readonly #keys: RepositoryKeys;
  readonly #size: number;
  readonly #slots: Limiter;

  constructor(keys: RepositoryKeys, size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#keys = keys;
    this.#size = size;
    this.#slots = new Limiter(size);
  }

  /** How many packs may be read ahead of the verifying. */
  get inFlight(): number {
    return this.#size * 2;
  }

  /** Verifies a pack: read whole (`bytes`), or a file on this machine (`path`), read as it is verified. */
  verify(name: string, pack: Buffer | { path: string }, blobs: Array<[Buffer, BlobPlace]>): Promise<PackProblem[]> {
    return this.#slots.run(() => processBudget().onThread(async () => {
      if (!Buffer.isBuffer(pack)) {
        return await verifyPackFile(this.#keys, name, pack.path, blobs).catch((err: Error) => [{ message: `cannot be read: ${err.message}` }]);
      }
      try {
        const digest = Buffer.alloc(32);
        await this.#native.packHash(pack, digest);
        return await verifyPackBytes(this.#keys, name, pack, blobs, digest);
      } catch (err) {
        return [{ message: `cannot be verified: ${(err as Error).message}` }];
      }
    }));
  }
}
