// Worker thread for check --read-data: verifies one pack's bytes (hash, header, every blob's MAC),
// read from its file here, or read by the main thread and transferred, not copied.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { freeNow } from '../lib/bytes.ts';
// The verifier alone, not the repository: each worker would otherwise load the whole repo
// layer (its validation library, storage) at start.
import { verifyPackBytes, type BlobPlace, type PackProblem, type RepositoryKeys } from '../repo/pack-check.ts';

interface Request {
  job: number;
  name: string;
  /** The pack's bytes, or the path of its file. */
  bytes?: Uint8Array;
  path?: string;
  blobs: Array<[Uint8Array, BlobPlace]>;
}

/**
 * Packs read from a path land here, one after the other. check --read-data of the bench corpus,
 * against the main thread reading them ahead into a buffer each: see docs/performance.md.
 */
let readBuffer = Buffer.alloc(0);

function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (readBuffer.byteLength < size) readBuffer = Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, readBuffer, done, size - done, done);
      if (n === 0) break; // shrunk meanwhile: the hash check says so
      done += n;
    }
    return readBuffer.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

function verify(msg: Request): PackProblem[] {
  let bytes: Buffer;
  try {
    bytes = msg.path === undefined ? Buffer.from(msg.bytes!.buffer, msg.bytes!.byteOffset, msg.bytes!.byteLength) : readWhole(msg.path);
  } catch (err) {
    return [{ message: `cannot be read: ${(err as Error).message}` }];
  }
  try {
    return verifyPackBytes(k, msg.name, bytes, msg.blobs.map(([id, place]) => [Buffer.from(id), place]));
  } catch (err) {
    return [{ message: `cannot be verified: ${(err as Error).message}` }];
  }
}

const keys = workerData as RepositoryKeys;
const k: RepositoryKeys = { encryption: Buffer.from(keys.encryption), blobId: Buffer.from(keys.blobId), chunker: Buffer.from(keys.chunker) };
parentPort!.on('message', (msg: Request) => {
  const problems = verify(msg);
  // Verified: freed now (lib/bytes.ts says why). check --read-data of the bench corpus, six
  // interleaved pairs: peak RSS 296 -> 240 MiB (medians), time unchanged (ratios 0.91-1.20).
  if (msg.bytes) freeNow(msg.bytes);
  parentPort!.postMessage({ job: msg.job, problems });
});
