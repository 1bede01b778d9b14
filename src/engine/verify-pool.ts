// check --read-data's verifying of whole packs (SHA-256 of the file, the header, every blob's
// decryption, decompression and MAC), one per core at once. The reading, hashing and the blob
// loop run on libuv's thread pool (native/verify_blobs.c); the header is read here. A pack on
// this machine's disks is read into one of a few buffers kept for the next pack; others are read
// ahead by the caller. Until stop 19, worker threads did this (docs/performance.md).
import { availableParallelism } from 'node:os';
import { Limiter } from '../lib/limiter.ts';
import { nativeAddon } from '../lib/native-addon.ts';
import { verifyPackBytes, type BlobPlace, type PackProblem, type RepositoryKeys } from '../repo/repository.ts';

interface NativeRead {
  /** The bytes read (and their SHA-256 in digest), or minus the file's size when `into` is too small for it. */
  packRead(path: string | null, into: Uint8Array, digest: Uint8Array, length?: number): Promise<number>;
}

/** Pack buffers grow in steps of this much. */
const BUFFER_STEP = 4 * 1024 * 1024;

export class VerifyPool {
  readonly #native = nativeAddon<NativeRead>();
  readonly #keys: RepositoryKeys;
  readonly #size: number;
  readonly #slots: Limiter;
  /** Buffers for packs read from a path, free for the next. */
  readonly #buffers: Buffer[] = [];

  constructor(keys: RepositoryKeys, size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#keys = keys;
    this.#size = size;
    this.#slots = new Limiter(size);
  }

  /** How many packs may be read ahead of the verifying. */
  get inFlight(): number {
    return this.#size * 2;
  }

  /** Verifies a pack: read whole (`bytes`), or a file on this machine (`path`), read into a buffer kept for the next. */
  verify(name: string, pack: Buffer | { path: string }, blobs: Array<[Buffer, BlobPlace]>): Promise<PackProblem[]> {
    return this.#slots.run(async () => {
      const digest = Buffer.alloc(32);
      if (Buffer.isBuffer(pack)) {
        await this.#native.packRead(null, pack, digest, pack.byteLength);
        return await this.#check(name, pack, blobs, digest);
      }
      let buffer = this.#buffers.pop() ?? Buffer.alloc(0);
      try {
        let length: number;
        try {
          length = await this.#native.packRead(pack.path, buffer, digest);
          if (length < 0) {
            // The buffer too small goes at once, not at V8's next full collection: packs differ by
            // a few KiB, and each growth left one more pack's size of memory behind (7 buffers of
            // 17 MiB for the bench corpus's 21 packs). Rounded up, one size serves most packs.
            if (buffer.buffer instanceof ArrayBuffer && buffer.byteLength === buffer.buffer.byteLength) buffer.buffer.transfer(0); // its own memory, not a pool's
            buffer = Buffer.allocUnsafeSlow(Math.ceil(-length / BUFFER_STEP) * BUFFER_STEP);
            length = await this.#native.packRead(pack.path, buffer, digest);
          }
        } catch (err) {
          return [{ message: `cannot be read: ${(err as Error).message}` }];
        }
        return await this.#check(name, buffer.subarray(0, Math.max(0, length)), blobs, digest);
      } finally {
        this.#buffers.push(buffer);
      }
    });
  }

  async #check(name: string, bytes: Buffer, blobs: Array<[Buffer, BlobPlace]>, digest: Buffer): Promise<PackProblem[]> {
    try {
      return await verifyPackBytes(this.#keys, name, bytes, blobs, digest);
    } catch (err) {
      return [{ message: `cannot be verified: ${(err as Error).message}` }];
    }
  }
}
