// A repository in an S3-compatible bucket (AWS, Wasabi, Backblaze B2, MinIO, Ceph RGW), below an
// optional prefix. Write-once by a conditional PUT (If-None-Match: *); every upload carries a
// Content-MD5 the server verifies; large files go up in parts. With Object Lock every object is
// written with a retention date, so nobody with these credentials can delete it before then.
// Credentials come from the SDK's standard chain (AWS_* variables, shared config and credentials
// files, AWS_PROFILE). The SDK's own retries are off: ResilientBackend does that for all backends.
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { LifeboatError } from '../errors.ts';
import { nowMs } from '../lib/clock.ts';
import { StorageError, fileExists, kindFolder, listConfig, objectPath, type Backend, type FileInfo, type FileKind, type ReadRange, type RetentionPolicy } from './backend.ts';

export interface S3Settings {
  endpoint: string;
  bucket: string;
  prefix: string;
  region: string;
  pathStyle: boolean;
  storageClass?: StorageClass;
  /** Files above this size are uploaded in parts of partBytes. */
  multipartThresholdBytes: number;
  partBytes: number;
}

const MiB = 1024 * 1024;

export class S3Backend implements Backend {
  readonly location: string;
  readonly #s: S3Settings;
  readonly #client: S3Client;
  #retention: RetentionPolicy | undefined;
  /** Whether the bucket has Object Lock (and so versions): asked once, when first needed. */
  #locked: Promise<boolean> | undefined;

  constructor(settings: S3Settings) {
    this.#s = settings;
    this.location = `s3:${settings.endpoint}/${settings.bucket}${settings.prefix ? '/' + settings.prefix : ''}`;
    this.#client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      forcePathStyle: settings.pathStyle,
      maxAttempts: 1,
      // Ceph and other S3-compatibles reject the SDK's default streaming checksums; we send Content-MD5.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** `https://HOST[:PORT]/BUCKET[/PREFIX]` (or `HOST/BUCKET...`, taken as https). */
  static fromLocation(rest: string, options: Record<string, string>): S3Backend {
    const withScheme = /^https?:\/\//.test(rest) ? rest : `https://${rest}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new LifeboatError('USAGE', `"s3:${rest}" is not a valid S3 location`, { hint: 'Write it as s3:https://HOST[:PORT]/BUCKET[/PREFIX].' });
    }
    const [bucket, ...prefix] = url.pathname.split('/').filter(Boolean);
    if (!bucket) throw new LifeboatError('USAGE', `"s3:${rest}" names no bucket`, { hint: 'Write it as s3:https://HOST[:PORT]/BUCKET[/PREFIX].' });
    const host = url.hostname;
    const isAws = host.endsWith('amazonaws.com');
    return new S3Backend({
      endpoint: `${url.protocol}//${url.host}`,
      bucket,
      prefix: prefix.join('/'),
      region: options['s3.region'] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // Virtual-host addressing is AWS's default; most self-hosted stores want path style.
      pathStyle: options['s3.path-style'] !== undefined ? options['s3.path-style'] === 'true' : !isAws,
      storageClass: options['s3.storage-class'] as StorageClass | undefined,
      multipartThresholdBytes: Number(options['s3.multipart-threshold-mib'] ?? 64) * MiB,
      partBytes: Number(options['s3.part-size-mib'] ?? 16) * MiB,
    });
  }

  #key(kind: FileKind, name: string): string {
    return this.#s.prefix ? `${this.#s.prefix}/${objectPath(kind, name)}` : objectPath(kind, name);
  }

  exists(): Promise<boolean> {
    return fileExists(this, 'config', 'config');
  }

  async create(options: { objectLock?: boolean } = {}): Promise<void> {
    try {
      await this.#send(new HeadBucketCommand({ Bucket: this.#s.bucket }), `bucket ${this.#s.bucket}`);
    } catch (err) {
      if ((err as StorageError).code !== 'ENOENT') throw err;
      await this.#send(new CreateBucketCommand({ Bucket: this.#s.bucket, ObjectLockEnabledForBucket: options.objectLock === true }), `bucket ${this.#s.bucket}`);
    }
    // Object storage has no folders to prepare.
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    if (kind === 'config') return yield* listConfig(this);
    const folder = `${kindFolder(kind)}/`;
    const prefix = this.#s.prefix ? `${this.#s.prefix}/${folder}` : folder;
    if (await this.#bucketLocked()) {
      yield* this.#listVersions(kind, prefix);
      return;
    }
    let token: string | undefined;
    do {
      const page = await this.#send(new ListObjectsV2Command({ Bucket: this.#s.bucket, Prefix: prefix, ContinuationToken: token }), `list ${kind}`);
      for (const o of page.Contents ?? []) {
        const name = o.Key!.slice(o.Key!.lastIndexOf('/') + 1);
        if (name !== '') yield { name, sizeBytes: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * With Object Lock the bucket is versioned, and a plain DELETE (by someone with the credentials,
   * or ransomware) only hides an object behind a delete marker while the locked version stays. A
   * repository in a locked bucket lists and reads through such markers, so it stays whole.
   */
  async *#listVersions(kind: FileKind, prefix: string): AsyncIterable<FileInfo> {
    const seen = new Set<string>();
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.#send<{ Versions?: Array<{ Key?: string; Size?: number; VersionId?: string }>; IsTruncated?: boolean; NextKeyMarker?: string; NextVersionIdMarker?: string }>(
        new ListObjectVersionsCommand({ Bucket: this.#s.bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
        `list ${kind}`,
      );
      // Versions come newest first per key; delete markers are listed apart and simply ignored.
      for (const v of page.Versions ?? []) {
        const key = v.Key!;
        if (seen.has(key)) continue;
        seen.add(key);
        const name = key.slice(key.lastIndexOf('/') + 1);
        if (name !== '') yield { name, sizeBytes: v.Size ?? 0 };
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
  }

  /** The newest version of a key that is not a delete marker (locked buckets only). */
  async #liveVersion(kind: FileKind, name: string): Promise<string | undefined> {
    const key = this.#key(kind, name);
    const page = await this.#send<{ Versions?: Array<{ Key?: string; VersionId?: string }> }>(new ListObjectVersionsCommand({ Bucket: this.#s.bucket, Prefix: key }), `${kind}/${name}`);
    return page.Versions?.find((v) => v.Key === key)?.VersionId;
  }

  /** Sends a GET or HEAD; in a locked bucket a hidden object is read by its version. */
  async #getOrHead<T>(kind: FileKind, name: string, make: (versionId?: string) => object): Promise<T> {
    try {
      return await this.#send<T>(make(), `${kind}/${name}`);
    } catch (err) {
      if ((err as StorageError).code !== 'ENOENT' || !(await this.#bucketLocked())) throw err;
      const versionId = await this.#liveVersion(kind, name);
      if (!versionId) throw err;
      return await this.#send<T>(make(versionId), `${kind}/${name}`);
    }
  }

  async read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer> {
    if (range?.length === 0) return Buffer.alloc(0);
    const Range = range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined;
    const res = await this.#getOrHead<{ Body?: { transformToByteArray(): Promise<Uint8Array> } }>(kind, name, (VersionId) => new GetObjectCommand({ Bucket: this.#s.bucket, Key: this.#key(kind, name), Range, VersionId }));
    const bytes = Buffer.from(await res.Body!.transformToByteArray());
    if (range && bytes.byteLength !== range.length) {
      throw new StorageError('EIO', `short read of ${kind}/${name}: ${bytes.byteLength} of ${range.length} bytes at ${range.offset}`);
    }
    return bytes;
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const body = Buffer.concat(data instanceof Uint8Array ? [data] : (data as Uint8Array[]));
    const common = {
      Bucket: this.#s.bucket,
      Key: this.#key(kind, name),
      // Only packs go to a colder class: keys, index and snapshots are read on every run.
      StorageClass: kind === 'packs' ? this.#s.storageClass : undefined,
      // Lock files come and go within minutes: retaining them would make the repository unlockable.
      ...(kind === 'locks' ? {} : this.#lockFields()),
    };
    if (body.byteLength > this.#s.multipartThresholdBytes) return await this.#writeMultipart(kind, name, body, common);
    await this.#send(new PutObjectCommand({ ...common, Body: body, ContentMD5: md5(body), IfNoneMatch: '*' }), `${kind}/${name}`);
  }

  async #writeMultipart(kind: FileKind, name: string, body: Buffer, common: { Bucket: string; Key: string }): Promise<void> {
    const what = `${kind}/${name}`;
    // Completing a multipart upload is not conditional everywhere: look first (names are content hashes, so a
    // file that is there already is this file).
    if (await fileExists(this, kind, name)) throw new StorageError('EEXIST', `${what} already exists`);
    const { UploadId } = await this.#send(new CreateMultipartUploadCommand(common), what);
    try {
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      for (let offset = 0, n = 1; offset < body.byteLength; offset += this.#s.partBytes, n++) {
        const part = body.subarray(offset, offset + this.#s.partBytes);
        const res = await this.#send(new UploadPartCommand({ Bucket: common.Bucket, Key: common.Key, UploadId, PartNumber: n, Body: part, ContentMD5: md5(part) }), what);
        parts.push({ ETag: res.ETag!, PartNumber: n });
      }
      await this.#send(new CompleteMultipartUploadCommand({ Bucket: common.Bucket, Key: common.Key, UploadId, MultipartUpload: { Parts: parts } }), what);
    } catch (err) {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: common.Bucket, Key: common.Key, UploadId })).catch(() => {});
      throw err;
    }
  }

  #lockFields(): { ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE'; ObjectLockRetainUntilDate?: Date } {
    if (!this.#retention) return {};
    return {
      ObjectLockMode: this.#retention.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date(nowMs() + this.#retention.days * 86_400_000),
    };
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo> {
    const res = await this.#getOrHead<{ ContentLength?: number }>(kind, name, (VersionId) => new HeadObjectCommand({ Bucket: this.#s.bucket, Key: this.#key(kind, name), VersionId }));
    return { name, sizeBytes: res.ContentLength ?? 0 };
  }

  async delete(kind: FileKind, name: string): Promise<void> {
    const until = await this.retainedUntil(kind, name).catch(() => undefined);
    if (until && until > new Date(nowMs())) {
      throw new StorageError('ERETAINED', `${kind}/${name} is under Object Lock retention until ${until.toISOString()}; it can be deleted after that`);
    }
    await this.#send(new DeleteObjectCommand({ Bucket: this.#s.bucket, Key: this.#key(kind, name) }), `${kind}/${name}`);
  }

  #bucketLocked(): Promise<boolean> {
    this.#locked ??= this.#send(new GetObjectLockConfigurationCommand({ Bucket: this.#s.bucket }), `bucket ${this.#s.bucket}`).then(
      (res) => res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled',
      (err) => {
        this.#locked = undefined;
        if ((err as StorageError).code === 'ENOENT') return false;
        throw err;
      },
    );
    return this.#locked;
  }

  async setRetention(policy: RetentionPolicy): Promise<void> {
    if (!(await this.#bucketLocked())) {
      throw new LifeboatError('USAGE', `The bucket "${this.#s.bucket}" does not have Object Lock enabled, so files cannot be locked`, {
        hint: 'Object Lock can only be turned on when a bucket is created: create a new bucket with it (or let "lifeboat init --object-lock" create the bucket).',
      });
    }
    this.#retention = policy;
  }

  async retainedUntil(kind: FileKind, name: string): Promise<Date | undefined> {
    try {
      const res = await this.#send(new GetObjectRetentionCommand({ Bucket: this.#s.bucket, Key: this.#key(kind, name) }), `${kind}/${name}`);
      return res.Retention?.RetainUntilDate;
    } catch (err) {
      // No retention configured on the object (or the bucket) is "not retained".
      if ((err as StorageError).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async #send<T = any>(command: object, what: string): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      return (await this.#client.send(command as never)) as T;
    } catch (err) {
      throw translate(err, what, this.location);
    }
  }
}

function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

/** S3's answers in the terms of StorageError: what went wrong, and whether a retry may help. */
function translate(err: unknown, what: string, location: string): unknown {
  if (!(err instanceof S3ServiceException)) return err; // network errors: ResilientBackend knows them
  const status = err.$metadata?.httpStatusCode ?? 0;
  const name = err.name;
  const detail = `${what} on ${location}: ${name}${err.message && err.message !== name && err.message !== 'UnknownError' ? ` (${err.message})` : ''}`;
  if (name === 'NoSuchBucket') return new StorageError('ENOENT', `the bucket does not exist: ${detail}`, { cause: err });
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'ObjectLockConfigurationNotFoundError' || name === 'NoSuchObjectLockConfiguration') {
    return new StorageError('ENOENT', `not found: ${detail}`, { cause: err });
  }
  if (status === 412 || name === 'PreconditionFailed') return new StorageError('EEXIST', `already exists: ${detail}`, { cause: err });
  if (name === 'QuotaExceeded') return new StorageError('ENOSPC', `the storage quota is used up: ${detail}`, { cause: err });
  if (status === 403 && /object ?lock/i.test(err.message)) return new StorageError('ERETAINED', `locked by Object Lock: ${detail}`, { cause: err });
  if (status === 401 || status === 403) return new StorageError('EACCES', `access denied: ${detail}`, { cause: err });
  if (status === 429 || status >= 500 || name === 'SlowDown' || name === 'RequestTimeout') return new StorageError('EIO', `server error: ${detail}`, { transient: true, cause: err });
  return new StorageError('EIO', detail, { cause: err });
}
