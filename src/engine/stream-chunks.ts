// A stream's chunks, cut on the main thread as its bytes arrive (a stream has no path for the
// chunking lanes to read), handed to `onChunk` one at a time and in order: memory holds one piece
// of the stream and at most one chunk's worth of bytes before it.
import type { Repository } from '../repo/repository.ts';
import type { ChunkedFile, PreparedChunk } from './chunk-pool.ts';

/** `signal` stops the wait for a producer that has gone quiet, and closes the stream. `level`: as ChunkPool's. */
export async function chunkStream(
  repo: Repository, stream: AsyncIterable<Buffer>, onChunk: (c: PreparedChunk) => Promise<void>, signal?: AbortSignal, level?: number,
): Promise<ChunkedFile> {
  const chunker = repo.chunker();
  let index = 0;
  let bytesRead = 0;
  const store = async (data: Buffer): Promise<void> => {
    const blob = repo.prepareBlob(data, level);
    await onChunk({ index: index++, ...blob });
  };
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of untilAborted(stream, signal)) {
    pending = pending.length ? Buffer.concat([pending, piece]) : piece;
    bytesRead += piece.length;
    let start = 0;
    for (let cut = chunker.nextCut(pending, start, pending.length, false); cut > 0; cut = chunker.nextCut(pending, start, pending.length, false)) {
      await store(pending.subarray(start, cut));
      start = cut;
    }
    pending = pending.subarray(start);
  }
  for (const length of chunker.split(pending)) {
    await store(pending.subarray(0, length));
    pending = pending.subarray(length);
  }
  return { chunks: index, bytesRead, changed: false, size: bytesRead, mtimeNs: '0', ctimeNs: '0' };
}

async function* untilAborted(stream: AsyncIterable<Buffer>, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const pieces = stream[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      signal?.throwIfAborted();
      const next = await Promise.race([pieces.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // Not awaited: an iterator finishes its pending read first, which may never come. Destroying
    // the stream ends that read.
    (stream as { destroy?: () => void }).destroy?.();
    pieces.return?.().catch(() => {});
  }
}
