// Worker thread: writes whole small files for restore. One message carries a file's content and
// metadata; every system call for it (create, write, owner, mode, xattrs, times, close) happens
// here, synchronously. Doing them on the thread pool instead costs a round trip each, which on
// many small files spends more time in thread wake-ups than in the file system.
import { closeSync, constants, fchmodSync, fchownSync, openSync, rmSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { nativeFs } from '../sources/native.ts';

export interface WriteRequest {
  id: number;
  path: Uint8Array;
  parts: Uint8Array[];
  mode: number;
  /** Set when running as root: the owner to give the file. */
  owner?: [number, number];
  mtime: [number, number];
  xattrs: Array<[Uint8Array, Uint8Array]>;
}

export interface WriteResponse {
  id: number;
  error?: { message: string; code?: string };
  warnings: string[];
}

const port = parentPort!;

port.on('message', (req: WriteRequest) => {
  const warnings: string[] = [];
  let fd = -1;
  try {
    fd = openSync(Buffer.from(req.path), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    let remaining = req.parts.reduce((n, p) => n + p.byteLength, 0);
    let parts = req.parts;
    while (remaining > 0) {
      const written = writevSync(fd, parts);
      remaining -= written;
      parts = skip(parts, written);
    }
    if (req.owner) {
      try {
        fchownSync(fd, req.owner[0], req.owner[1]);
      } catch (err) {
        warnings.push(`cannot set owner: ${(err as Error).message}`);
      }
    }
    fchmodSync(fd, req.mode); // after chown, which clears setuid/setgid
    for (const [name, value] of req.xattrs) {
      try {
        nativeFs.fsetxattr(fd, Buffer.from(name), Buffer.from(value));
      } catch (err) {
        warnings.push(`cannot set extended attribute ${Buffer.from(name).toString()}: ${(err as Error).message}`);
      }
    }
    nativeFs.futimens(fd, req.mtime[0], req.mtime[1], req.mtime[0], req.mtime[1]);
    closeSync(fd);
    fd = -1;
    port.postMessage({ id: req.id, warnings } satisfies WriteResponse);
  } catch (err) {
    if (fd >= 0) {
      closeSync(fd);
      rmSync(Buffer.from(req.path), { force: true }); // a failed file is reported, not left half-written
    }
    const e = err as NodeJS.ErrnoException;
    port.postMessage({ id: req.id, error: { message: e.message, code: e.code }, warnings } satisfies WriteResponse);
  }
});

/** The parts after the first `n` bytes (writev may write less than everything). */
function skip(parts: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of parts) {
    if (n >= p.byteLength) {
      n -= p.byteLength;
      continue;
    }
    out.push(n > 0 ? p.subarray(n) : p);
    n = 0;
  }
  return out;
}
