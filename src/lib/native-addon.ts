// The native addon (native/*.c), built by `npm ci` through node-gyp (Node-API, so it loads on any
// Node version, in any thread), and its one typed face: every function it exports, and the
// layouts of the records it shares with TypeScript, which come from the addon itself (never
// numbers repeated in two languages). Loaded on first use, so a missing build is reported as
// such. Node's own zstd and OpenSSL are called through it for one blob at a time (lib/zstd.ts,
// repo/crypto.ts, repo/pack-check.ts), which fall back to node:zlib and node:crypto without it.
// Handles it gives out (a chunking lane, a hash) are type-tagged: one passed where another kind
// is expected is refused with a TypeError, never taken for the other.
import { createRequire } from 'node:module';
import { LifeboatError } from '../errors.ts';

/** A chunking lane (native/chunk_files.c). */
export type LaneHandle = object & { readonly __lane: unique symbol };
/** A SHA-256 being computed (native/sha256_stream.c). */
export type HashHandle = object & { readonly __hash: unique symbol };

/** Positions of the numbers in the records the addon and TypeScript exchange. */
export interface NativeLayout {
  /** scanDirectory's stats: `fields` per entry, each named field at its position. */
  scan: { fields: number; dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
    size: number; blocks: number; mtimeNs: number; ctimeNs: number; xattrBytes: number; errno: number };
  /**
   * chunkLaneRun's records: the header (`count` records, files `started`, whether the last file is
   * `carried` on), then `fields` per record from `start`, of kind `chunk`, `done` or `failed`.
   */
  chunk: {
    count: number; started: number; carried: number; start: number;
    fields: number; chunk: number; done: number; failed: number;
  };
  /**
   * restoreWriteFiles' meta: `file` numbers per file, `part` per content part, `xattr` per
   * attribute; `result` per file back, with `failed` or `damaged`. restoreWriteRun's places:
   * `blob` per blob, then its positions.
   */
  restore: { file: number; part: number; xattr: number; result: number; failed: number; damaged: number; blob: number };
  /** verifyBlobs' and packVerifyFile's places: `fields` per blob (offset, stored length, compression, raw length). */
  verify: { fields: number };
}

export interface NativeAddon {
  layout: NativeLayout;
  // Files (lifeboat_native.c, scan_dir.c): what node:fs does not offer.
  listXattrs(path: Buffer): Buffer[];
  getXattr(path: Buffer, name: Buffer): Buffer;
  setXattr(path: Buffer, name: Buffer, value: Buffer): void;
  utimens(path: Buffer, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  futimens(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  fsetxattr(fd: number, name: Buffer, value: Buffer): void;
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  devParts(rdev: number): [number, number];
  scanDirectory(path: Buffer): Promise<{ names: Buffer; ends: Uint32Array; stats: BigInt64Array }>;
  releaseFreeMemory(): boolean;
  // Chunking (gear_cut.c, chunk_files.c).
  gearCut(
    bytes: Uint8Array,
    from: number,
    normalEnd: number,
    limitEnd: number,
    strictMask: number,
    looseMask: number,
    gear: Uint32Array,
  ): number;
  chunkLaneCreate(gear: Uint32Array, params: Float64Array, blobIdKey: Uint8Array, known: BigUint64Array): LaneHandle;
  chunkLaneRun(
    lane: LaneHandle,
    paths: Uint8Array,
    count: number,
    out: Uint8Array,
    records: Float64Array,
    ids: Uint8Array,
  ): Promise<void>;
  chunkLaneClose(lane: LaneHandle): void;
  // One blob (zstd_blob.c, blob_crypto.c).
  zstdAvailable(): boolean;
  zstdCompress(data: Uint8Array, level: number): Buffer;
  /** undefined unless `data` is one frame of exactly rawLength bytes. */
  zstdDecompress(data: Uint8Array, rawLength: number): Buffer | undefined;
  blobMac(key: Uint8Array, data: Uint8Array): Buffer;
  blobSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plain: Uint8Array,
    aad: Uint8Array,
    into: Uint8Array,
    at: number,
  ): number;
  blobOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined;
  // Packs (verify_blobs.c, sha256_stream.c).
  /** One status per blob: 0 when it decrypts, decompresses and MACs to its id. */
  verifyBlobs(
    pack: Uint8Array,
    packKey: Uint8Array,
    macKey: Uint8Array,
    ids: Uint8Array,
    places: Float64Array,
  ): Promise<Uint8Array>;
  /**
   * verifyBlobs over a file read as it goes: statuses in `status`, its SHA-256 in `digest`, its
   * last bytes in `tail`; resolves with the bytes read.
   */
  packVerifyFile(
    fd: number,
    packKey: Uint8Array,
    macKey: Uint8Array,
    ids: Uint8Array,
    places: Float64Array,
    status: Uint8Array,
    digest: Uint8Array,
    tail: Uint8Array,
  ): Promise<number>;
  /** The SHA-256 of `bytes`, into digest. */
  packHash(bytes: Uint8Array, digest: Uint8Array): Promise<void>;
  sha256Create(): HashHandle;
  sha256Update(hash: HashHandle, data: Uint8Array): Promise<void>;
  sha256Digest(hash: HashHandle): Buffer;
  // Writing (restore_write.c, direct_write.c).
  restoreWriteFiles(
    content: Uint8Array,
    meta: Float64Array,
    names: Uint8Array,
    keys: Uint8Array,
    results: Int32Array,
    xattrErrors: Int32Array,
    macKey: Uint8Array,
  ): Promise<void>;
  restoreWriteRun(
    fd: number,
    sealed: Uint8Array | [string, number, number],
    packKey: Uint8Array,
    ids: Uint8Array,
    places: Float64Array,
    sparse: boolean,
    directFd: number,
    macKey: Uint8Array,
  ): Promise<number>;
  writeAt(fd: number, directFd: number, data: Uint8Array, position: number): Promise<void>;
  /** A Buffer aligned for O_DIRECT (in huge pages where it is big enough). */
  alignedBuffer(bytes: number): Buffer;
}

let loaded: NativeAddon | undefined;

export function nativeAddon(): NativeAddon {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('../../build/Release/lifeboat_native.node') as NativeAddon;
    return loaded;
  } catch (err) {
    throw new LifeboatError('FATAL', `Lifeboat's native helper is not built: ${(err as Error).message}`, {
      hint: 'Run "npm rebuild" (or "npm ci") in the Lifeboat directory; it needs python3, make and a C compiler.',
      cause: err,
    });
  }
}

/**
 * The addon's layout of one kind of record, checked against what a TypeScript writer or reader of
 * it was written for (the order of the numbers in a record is written once in each language):
 * a build of the addon older or newer than the code fails here, clearly, instead of misreading.
 */
export function layoutOf<K extends keyof NativeLayout>(kind: K, expected: Partial<NativeLayout[K]>): NativeLayout[K] {
  const layout = nativeAddon().layout?.[kind];
  const numbers = layout as Record<string, number> | undefined;
  const differs = Object.entries(expected).filter(([key, value]) => numbers?.[key] !== value).map(([key]) => key);
  if (differs.length) {
    const what = `its ${kind} records differ in ${differs.join(', ')}`;
    throw new LifeboatError('FATAL', `Lifeboat's native helper does not match this version (${what})`, {
      hint: 'Run "npm rebuild" (or "npm ci") in the Lifeboat directory.',
    });
  }
  return layout;
}

/** The addon, or undefined when it is not built: for callers that can do without it. */
export function nativeAddonIfBuilt(): NativeAddon | undefined {
  try {
    return nativeAddon();
  } catch {
    return undefined;
  }
}

/**
 * Hands the C heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere or
 * without the addon). For after a burst of short-lived buffers: the allocator keeps them otherwise.
 */
export function releaseFreeMemory(): void {
  nativeAddonIfBuilt()?.releaseFreeMemory();
}
