/* restoreWriteFiles(content, meta, names, keys, results, xattrErrors, macKey): Promise<void>
 * restoreWriteRun(fd, sealed, packKey, ids, places, sparse, directFd, macKey): Promise<number>
 * Restore's writing, on libuv's thread pool: decrypting (blob_crypto.c's blob_decrypt) and
 * decompressing blobs, and every system call for a file (create, write, owner, mode,
 * xattrs, times, close). Until stop 19 two worker threads did this in JavaScript: each isolate
 * held about 20 MiB and compiled the same functions again, each decoded blob was a fresh buffer
 * whose pages the kernel zeroed, and each batch of files was cloned into and out of a message.
 * Here a job borrows a set of buffers kept for the next job (Scratch), and the arguments are a few
 * typed arrays, referenced until the job is done.
 *
 * restoreWriteFiles writes whole small files. meta holds, per file: path length, part count, xattr
 * count, mode, whether to set the owner, uid, gid, mtime seconds, mtime nanoseconds; then per part:
 * its length in content, whether it is sealed, and a sealed part's offset in its pack, compression
 * (0 none, 1 zstd) and raw length; then per xattr: name length, value length. names holds each
 * file's path then its xattrs' names and values; keys 64 bytes per sealed part (blob id, pack key).
 * results gets four numbers per file: status (0 written, 1 failed, 2 a blob did not decode and
 * nothing was written), errno, the step that failed (STEP_*), the errno of fchown (0 when it
 * worked); xattrErrors one errno (or 0) per xattr.
 *
 * restoreWriteRun decodes a run of a big file's blobs and writes each at its positions in the open
 * file fd; sealed is the run's bytes, or [path, offset, length] of a pack on this machine to read
 * them from. places holds per blob: its offset in the run, stored length, offset in the pack,
 * compression, raw length, position count, then the positions. It resolves with the bytes written,
 * or -1 when the run could not be read or a blob did not decode (the caller does it again blob by
 * blob, and its errors name what is wrong); it rejects with the errno error of a failed write.
 * directFd, when not -1, is the same file opened with O_DIRECT: the whole 4 KiB blocks of what a
 * run writes go through it, from a buffer placed so that memory and file offsets agree, and only
 * the partial blocks at a gathered range's ends go through the page cache (direct_write.c's
 * write_split).
 *
 * Every decoded blob must MAC (HMAC-SHA256 under macKey, the repository's blob-id key) to its id:
 * another machine holding the repository's key can seal any bytes under any id, so a blob that
 * authenticates is not yet the blob its id names. One that does not counts as damaged.
 * A small file's path is opened with O_NOFOLLOW: restore.ts names it as /proc/self/fd/N/NAME,
 * relative to a folder it opened without following links, so no link leads the write elsewhere. */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include "file_write.h"
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#define TAG_BYTES 16
#define ID_BYTES 32
#define KEY_BYTES 32
/* Decoded blobs of a run are gathered up to this much, then written with one call (see flush_pending). */
#define GATHER_BYTES (8u << 20)
#define HOLE_BLOCK 4096

enum { STEP_OPEN = 1, STEP_WRITE = 2, STEP_CHMOD = 3, STEP_UTIMES = 4, STEP_CLOSE = 5, STEP_READ = 6 };

int64_t zstd_decompress_to(void *dst, size_t cap, const void *src, size_t len); /* zstd_blob.c */
EVP_MAC_CTX *hmac_sha256_new(const unsigned char *key, size_t key_len); /* blob_crypto.c */
int hmac_sha256_of(EVP_MAC_CTX *mac, const void *data, size_t len, unsigned char *out); /* blob_crypto.c */
int64_t blob_decrypt(EVP_CIPHER_CTX *cipher, const unsigned char *id, uint64_t offset, const unsigned char *sealed, size_t stored, unsigned char *plain); /* blob_crypto.c */

/* Buffers and a cipher context lent to one job at a time. As many exist as jobs ever ran at once
 * (the caller keeps that to a few); kept per thread instead, libuv's eight threads would each
 * grow their own. */
typedef struct Scratch {
  struct Scratch *next;
  EVP_CIPHER_CTX *cipher;
  uint8_t key[KEY_BYTES];
  int keyed;
  EVP_MAC_CTX *mac; /* keyed with mac_key, made on first use */
  uint8_t mac_key[KEY_BYTES];
  uint8_t *run, *out;
  size_t run_cap, out_cap;
  struct iovec *iov;
  size_t iov_cap; /* in bytes */
} Scratch;

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static Scratch *spare;

static Scratch *borrow_scratch(void) {
  pthread_mutex_lock(&spare_lock);
  Scratch *s = spare;
  if (s) spare = s->next;
  pthread_mutex_unlock(&spare_lock);
  if (!s && (s = calloc(1, sizeof *s)) && !(s->cipher = EVP_CIPHER_CTX_new())) {
    free(s);
    s = NULL;
  }
  return s;
}

static void return_scratch(Scratch *s) {
  pthread_mutex_lock(&spare_lock);
  s->next = spare;
  spare = s;
  pthread_mutex_unlock(&spare_lock);
}

/* Room for `want` bytes in *buf, which starts on a DIRECT_ALIGN boundary; its old content is not
 * kept. 0 when out of memory. A buffer of a megabyte or more grows to whole huge pages: the job
 * after will likely fill them (file_write.h on why huge pages). */
static int room(uint8_t **buf, size_t *cap, size_t want) {
  if (want <= *cap) return 1;
  free(*buf);
  if (want >= HUGE_PAGE / 2) want = (want + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  *buf = buffer_alloc(want);
  *cap = *buf ? want : 0;
  return *buf != NULL;
}

/* One sealed blob decrypted and decompressed into dst (room for raw_length); 0 when it does not
 * authenticate or is not raw_length bytes once decoded. A compressed blob is decrypted where it
 * lies, over its sealed bytes, which are the job's own (a run's buffer, or a batch's content
 * handed over); when it does not authenticate, the caller reads it again to say why. */
/* Whether the raw_length bytes at dst MAC to id under mac_key. */
static int blob_matches_id(Scratch *s, const uint8_t *mac_key, const uint8_t *id, const uint8_t *dst, size_t raw_length) {
  if (!s->mac || memcmp(s->mac_key, mac_key, KEY_BYTES) != 0) {
    EVP_MAC_CTX_free(s->mac);
    if (!(s->mac = hmac_sha256_new(mac_key, KEY_BYTES))) return 0;
    memcpy(s->mac_key, mac_key, KEY_BYTES);
  }
  uint8_t digest[ID_BYTES];
  return hmac_sha256_of(s->mac, dst, raw_length, digest) && memcmp(digest, id, ID_BYTES) == 0;
}

static int open_blob(Scratch *s, const uint8_t *key, const uint8_t *mac_key, const uint8_t *id, double offset, uint8_t *sealed, size_t stored,
                     int compressed, size_t raw_length, uint8_t *dst) {
  if (stored < TAG_BYTES || offset < 0) return 0;
  size_t body = stored - TAG_BYTES;
  if (!compressed && body != raw_length) return 0;
  if (!s->keyed || memcmp(s->key, key, KEY_BYTES) != 0) {
    s->keyed = EVP_DecryptInit_ex(s->cipher, EVP_aes_256_gcm(), NULL, key, NULL) == 1;
    if (!s->keyed) return 0;
    memcpy(s->key, key, KEY_BYTES);
  }
  int64_t len = blob_decrypt(s->cipher, id, (uint64_t)offset, sealed, stored, compressed ? sealed : dst);
  if (len < 0) return 0;
  if (compressed && zstd_decompress_to(dst, raw_length, sealed, (size_t)len) != (int64_t)raw_length) return 0;
  return blob_matches_id(s, mac_key, id, dst, raw_length);
}

static int all_zero(const uint8_t *p, size_t len) {
  static const uint8_t zeros[HOLE_BLOCK];
  return memcmp(p, zeros, len) == 0; /* len is at most one block */
}

/* Writes data at position but leaves every all-zero 4 KiB block (file-aligned) as a hole, as
 * src/engine/file-writes.ts does; errno or 0. */
static int write_skipping_zeros(int fd, const uint8_t *data, size_t len, off_t position) {
  size_t at = 0, run_start = SIZE_MAX;
  while (at < len) {
    size_t block_end = at + HOLE_BLOCK - (size_t)((position + (off_t)at) % HOLE_BLOCK);
    if (block_end > len) block_end = len;
    int zero = all_zero(data + at, block_end - at);
    if (!zero && run_start == SIZE_MAX) run_start = at;
    if (zero && run_start != SIZE_MAX) {
      int err = write_fully(fd, data + run_start, at - run_start, position + (off_t)run_start);
      if (err) return err;
      run_start = SIZE_MAX;
    }
    at = block_end;
  }
  return run_start == SIZE_MAX ? 0 : write_fully(fd, data + run_start, len - run_start, position + (off_t)run_start);
}

/* writev of every part, however many calls it takes (IOV_MAX parts at most per call, short writes). */
static int writev_fully(int fd, struct iovec *iov, size_t count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count > IOV_MAX ? IOV_MAX : (int)count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    while (count > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
  return 0;
}

/* A NUL-terminated copy of len bytes into out (size cap); 0 when it does not fit. */
static int c_string(char *out, size_t cap, const uint8_t *bytes, size_t len) {
  if (len >= cap) return 0;
  memcpy(out, bytes, len);
  out[len] = 0;
  return 1;
}

typedef struct {
  AsyncJob base;
  /* restoreWriteFiles */
  uint8_t *content;
  const uint8_t *names, *keys;
  size_t content_len, names_len, keys_len;
  const double *meta;
  size_t meta_len;
  int32_t *results, *xattr_errors;
  size_t file_count, xattr_count;
  /* restoreWriteRun */
  int fd, direct_fd, sparse;
  char *pack_path;
  double read_offset, read_length;
  uint8_t *sealed;
  const uint8_t *pack_key, *ids, *mac_key;
  size_t sealed_len, id_bytes;
  const double *places;
  size_t places_len;
  /* outcome of a run */
  int damaged, err;
  double bytes;
} Job;

/* What one file's description takes of meta (numbers), content, names and keys (bytes). */
typedef struct {
  size_t meta, content, names, keys;
} Extent;

/* The extent of the file described at f, with `meta_left` numbers of meta from there; 0 when a
 * count or length in it is bigger than its array (`bound`), checked before anything is summed,
 * so that no sum can wrap. */
static int file_extent(const double *f, size_t meta_left, const Extent *bound, Extent *e) {
  if (meta_left < FILE_FIELDS || !(f[0] >= 0 && f[0] <= (double)bound->names && f[1] >= 0 && f[1] <= (double)meta_left && f[2] >= 0 &&
                                   f[2] <= (double)meta_left))
    return 0;
  size_t part_count = (size_t)f[1], xattr_count = (size_t)f[2];
  *e = (Extent){.meta = FILE_FIELDS + part_count * PART_FIELDS + xattr_count * XATTR_FIELDS, .names = (size_t)f[0]};
  if (e->meta > meta_left) return 0;
  for (size_t p = 0; p < part_count; p++) {
    const double *part = f + FILE_FIELDS + p * PART_FIELDS;
    if (!(part[0] >= 0 && part[0] <= (double)bound->content)) return 0;
    e->content += (size_t)part[0];
    if (part[1]) e->keys += 2 * ID_BYTES;
  }
  for (size_t x = 0; x < xattr_count; x++) {
    const double *xa = f + FILE_FIELDS + part_count * PART_FIELDS + x * XATTR_FIELDS;
    if (!(xa[0] >= 0 && xa[0] <= (double)bound->names && xa[1] >= 0 && xa[1] <= (double)bound->names)) return 0;
    e->names += (size_t)xa[0] + (size_t)xa[1];
  }
  return 1;
}

/* One small file: decoded, created, written and given its metadata; its four result numbers. */
static void write_one_file(Scratch *s, const Job *job, const double *f, const uint8_t *path_bytes, uint8_t *content, const uint8_t *keys,
                           int32_t *result, int32_t *xattr_errors) {
  const double *parts = f + FILE_FIELDS;
  size_t part_count = (size_t)f[1], xattr_count = (size_t)f[2], decoded = 0;
  for (size_t i = 0; i < part_count; i++)
    if (parts[i * PART_FIELDS + 1]) decoded += (size_t)parts[i * PART_FIELDS + 4];
  if (!room(&s->out, &s->out_cap, decoded + 1) || !room((uint8_t **)&s->iov, &s->iov_cap, (part_count + 1) * sizeof(struct iovec))) {
    result[0] = STATUS_FAILED, result[1] = ENOMEM, result[2] = STEP_WRITE;
    return;
  }
  size_t out_at = 0;
  for (size_t i = 0; i < part_count; i++) {
    const double *p = parts + i * PART_FIELDS;
    size_t length = (size_t)p[0];
    if (p[1]) {
      size_t raw = (size_t)p[4];
      if (!open_blob(s, keys + ID_BYTES, job->mac_key, keys, p[2], content, length, p[3] == 1, raw, s->out + out_at)) {
        result[0] = STATUS_DAMAGED;
        return;
      }
      s->iov[i] = (struct iovec){s->out + out_at, raw};
      out_at += raw;
      keys += 2 * ID_BYTES;
    } else {
      s->iov[i] = (struct iovec){(void *)content, length};
    }
    content += length;
  }
  char path[PATH_MAX + 1];
  int fd = c_string(path, sizeof path, path_bytes, (size_t)f[0]) ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600) : (errno = ENAMETOOLONG, -1);
  int err = 0, step = STEP_OPEN;
  if (fd < 0) err = errno;
  if (!err) step = STEP_WRITE, err = writev_fully(fd, s->iov, part_count);
  if (!err && f[4] && fchown(fd, (uid_t)f[5], (gid_t)f[6]) != 0) result[3] = errno;
  if (!err && fchmod(fd, (mode_t)f[3]) != 0) step = STEP_CHMOD, err = errno; /* after chown, which clears setuid/setgid */
  const uint8_t *names = path_bytes + (size_t)f[0];
  for (size_t i = 0; i < xattr_count; i++) {
    const double *x = f + FILE_FIELDS + part_count * PART_FIELDS + i * XATTR_FIELDS;
    size_t name_len = (size_t)x[0], value_len = (size_t)x[1];
    char name[XATTR_NAME_MAX + 1];
    if (!err) xattr_errors[i] = !c_string(name, sizeof name, names, name_len) ? ERANGE : fsetxattr(fd, name, names + name_len, value_len, 0) != 0 ? errno : 0;
    names += name_len + value_len;
  }
  struct timespec times[2] = {{(time_t)f[7], (long)f[8]}, {(time_t)f[7], (long)f[8]}};
  if (!err && futimens(fd, times) != 0) step = STEP_UTIMES, err = errno;
  if (fd >= 0 && close(fd) != 0 && !err) step = STEP_CLOSE, err = errno;
  if (err && fd >= 0) unlink(path); /* a failed file is reported, not left half-written */
  if (err) result[0] = STATUS_FAILED, result[1] = err, result[2] = step;
}

static void write_files(AsyncJob *base) {
  Job *job = (Job *)base;
  Scratch *s = borrow_scratch();
  const Extent bound = {job->meta_len, job->content_len, job->names_len, job->keys_len};
  Extent at = {0}, e;
  int32_t *xattr_errors = job->xattr_errors;
  for (size_t i = 0; i < job->file_count && file_extent(job->meta + at.meta, job->meta_len - at.meta, &bound, &e); i++) {
    const double *f = job->meta + at.meta;
    int32_t *result = job->results + RESULT_FIELDS * i;
    if (!s) result[0] = STATUS_FAILED, result[1] = ENOMEM, result[2] = STEP_WRITE;
    else write_one_file(s, job, f, job->names + at.names, job->content + at.content, job->keys + at.keys, result, xattr_errors);
    /* past this file, whatever happened to it */
    xattr_errors += (size_t)f[2];
    at.meta += e.meta, at.content += e.content, at.names += e.names, at.keys += e.keys;
  }
  if (s) return_scratch(s);
}

/* A run's decoded blobs that follow each other in the file wait in s->out and go out with one
 * write: the page cache then gets whole pages from one call. Written blob by blob, a blob ending
 * inside a folio the file did not have yet made the kernel zero the rest of it first, which the
 * next blob then overwrote (4% of the writers' time before stop 14). */
typedef struct {
  const uint8_t *data;
  size_t len;
  off_t position;
} Pending;

static int flush_pending(const Job *job, Pending *pending) {
  int err = pending->len ? write_split(job->fd, job->direct_fd, pending->data, pending->len, pending->position) : 0;
  pending->len = 0;
  return err;
}

static void write_run(AsyncJob *base) {
  Job *job = (Job *)base;
  Scratch *s = borrow_scratch();
  if (!s) {
    job->err = ENOMEM;
    return;
  }
  uint8_t *sealed = job->sealed;
  size_t sealed_len = job->sealed_len;
  if (job->pack_path) {
    size_t length = (size_t)job->read_length;
    int fd = open(job->pack_path, O_RDONLY | O_CLOEXEC);
    size_t done = 0;
    if (fd >= 0 && room(&s->run, &s->run_cap, length + 1)) {
      while (done < length) {
        ssize_t n = pread(fd, s->run + done, length - done, (off_t)job->read_offset + (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
      }
    }
    if (fd >= 0) close(fd);
    job->damaged = done < length; /* read again by the caller, whose error names the pack */
    sealed = s->run;
    sealed_len = length;
  }
  Pending pending = {0};
  size_t used = 0, count = job->id_bytes / ID_BYTES;
  const double *b = job->places, *end = job->places + job->places_len;
  for (size_t i = 0; i < count && !job->damaged && !job->err && b + BLOB_FIELDS <= end; i++) {
    double at = b[0], stored = b[1];
    size_t raw = (size_t)b[4], positions = (size_t)b[5];
    if (at < 0 || at + stored > (double)sealed_len || b + BLOB_FIELDS + positions > end) {
      job->damaged = 1;
      break;
    }
    /* A blob goes on the gathered range when it follows it in the file and in the buffer. Else the
     * range goes out, and the next one starts at the buffer offset that agrees with its file
     * offset modulo DIRECT_ALIGN, which write_split's direct writes need. */
    off_t first = positions ? (off_t)b[BLOB_FIELDS] : 0;
    int gathered = !job->sparse && positions > 0;
    int extends = gathered && pending.len && pending.data + pending.len == s->out + used && pending.position + (off_t)pending.len == first &&
                  used + raw <= s->out_cap;
    if (!extends) {
      if ((job->err = flush_pending(job, &pending))) break;
      used = gathered && first >= 0 ? (size_t)(first % DIRECT_ALIGN) : 0;
      if (!room(&s->out, &s->out_cap, used + raw > GATHER_BYTES ? used + raw : GATHER_BYTES)) {
        job->err = ENOMEM;
        break;
      }
    }
    uint8_t *blob = s->out + used;
    if (!open_blob(s, job->pack_key, job->mac_key, job->ids + i * ID_BYTES, b[2], sealed + (size_t)at, (size_t)stored, b[3] == 1, raw, blob)) {
      job->damaged = 1;
      break;
    }
    used += raw;
    for (size_t p = 0; p < positions && !job->err; p++) {
      off_t position = (off_t)b[BLOB_FIELDS + p];
      job->bytes += (double)raw;
      if (job->sparse) job->err = write_skipping_zeros(job->fd, blob, raw, position);
      else if (p > 0) job->err = write_fully(job->fd, blob, raw, position);
      else if (extends) pending.len += raw;
      else pending = (Pending){blob, raw, position};
    }
    b += BLOB_FIELDS + positions;
  }
  if (!job->damaged && !job->err) job->err = flush_pending(job, &pending);
  return_scratch(s);
}

/* restoreWriteFiles has written its results into the arrays it was given. */
static void files_settled(napi_env env, AsyncJob *base, napi_deferred deferred) {
  (void)base;
  napi_value value;
  napi_get_undefined(env, &value);
  napi_resolve_deferred(env, deferred, value);
}

static void run_settled(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Job *job = (Job *)base;
  napi_value value;
  if (job->err) {
    napi_reject_deferred(env, deferred, errno_error(env, job->err, "write"));
    return;
  }
  napi_create_double(env, job->damaged ? -1 : job->bytes, &value);
  napi_resolve_deferred(env, deferred, value);
}

static void release(AsyncJob *base) {
  Job *job = (Job *)base;
  free(job->pack_path);
  free(job);
}

static Job *new_job(napi_env env, void (*run)(AsyncJob *), void (*settle)(napi_env, AsyncJob *, napi_deferred)) {
  return job_new(env, sizeof(Job), run, settle, release);
}

napi_value restore_write_files(napi_env env, napi_callback_info info) {
  static const char usage[] = "restoreWriteFiles(content, meta: Float64Array, names, keys, results: Int32Array, xattrErrors: Int32Array, macKey[32])";
  size_t argc = 7; napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(env, write_files, files_settled);
  if (!job) return NULL;
  AsyncJob *b = &job->base;
  size_t results_len, mac_key_len;
  if (argc < 7 || !job_hold(env, b, argv[0], napi_uint8_array, (void **)&job->content, &job->content_len) ||
      !job_hold(env, b, argv[1], napi_float64_array, (void **)&job->meta, &job->meta_len) || !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->names, &job->names_len) ||
      !job_hold(env, b, argv[3], napi_uint8_array, (void **)&job->keys, &job->keys_len) || !job_hold(env, b, argv[4], napi_int32_array, (void **)&job->results, &results_len) ||
      !job_hold(env, b, argv[5], napi_int32_array, (void **)&job->xattr_errors, &job->xattr_count) ||
      !job_hold(env, b, argv[6], napi_uint8_array, (void **)&job->mac_key, &mac_key_len) || mac_key_len != KEY_BYTES)
    return job_refuse(env, b, usage);
  /* Every length in meta is checked against the arrays here, before the thread trusts them. */
  const Extent bound = {job->meta_len, job->content_len, job->names_len, job->keys_len};
  Extent total = {0}, e;
  size_t xattrs = 0;
  job->file_count = results_len / RESULT_FIELDS;
  for (size_t i = 0; i < job->file_count; i++) {
    if (!file_extent(job->meta + total.meta, job->meta_len - total.meta, &bound, &e)) return job_refuse(env, b, usage);
    xattrs += (size_t)job->meta[total.meta + 2];
    total.meta += e.meta, total.content += e.content, total.names += e.names, total.keys += e.keys;
  }
  if (total.meta != job->meta_len || total.content > job->content_len || total.names > job->names_len || total.keys > job->keys_len ||
      xattrs > job->xattr_count)
    return job_refuse(env, b, usage);
  return job_start(env, b, "lifeboat.restoreWriteFiles");
}

napi_value restore_write_run(napi_env env, napi_callback_info info) {
  static const char usage[] = "restoreWriteRun(fd, sealed: Uint8Array | [path, offset, length], packKey[32], ids[32 * n], places: Float64Array, sparse, directFd, macKey[32])";
  size_t argc = 8; napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(env, write_run, run_settled);
  if (!job) return NULL;
  AsyncJob *b = &job->base;
  size_t key_len, mac_key_len;
  bool sparse = false, is_array = false;
  if (argc < 8 || napi_get_value_int32(env, argv[0], &job->fd) != napi_ok || napi_get_value_int32(env, argv[6], &job->direct_fd) != napi_ok ||
      napi_is_array(env, argv[1], &is_array) != napi_ok ||
      !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->pack_key, &key_len) || key_len != KEY_BYTES ||
      !job_hold(env, b, argv[3], napi_uint8_array, (void **)&job->ids, &job->id_bytes) || job->id_bytes % ID_BYTES != 0 ||
      !job_hold(env, b, argv[4], napi_float64_array, (void **)&job->places, &job->places_len) || napi_get_value_bool(env, argv[5], &sparse) != napi_ok ||
      !job_hold(env, b, argv[7], napi_uint8_array, (void **)&job->mac_key, &mac_key_len) || mac_key_len != KEY_BYTES)
    return job_refuse(env, b, usage);
  job->sparse = sparse;
  if (is_array) {
    napi_value path, offset, length;
    size_t path_len;
    if (napi_get_element(env, argv[1], 0, &path) != napi_ok || napi_get_element(env, argv[1], 1, &offset) != napi_ok ||
        napi_get_element(env, argv[1], 2, &length) != napi_ok || napi_get_value_string_utf8(env, path, NULL, 0, &path_len) != napi_ok ||
        napi_get_value_double(env, offset, &job->read_offset) != napi_ok || napi_get_value_double(env, length, &job->read_length) != napi_ok ||
        !(job->read_offset >= 0) || !(job->read_length >= 0) || !(job->pack_path = malloc(path_len + 1)))
      return job_refuse(env, b, usage);
    napi_get_value_string_utf8(env, path, job->pack_path, path_len + 1, &path_len);
  } else if (!job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->sealed, &job->sealed_len)) {
    return job_refuse(env, b, usage);
  }
  return job_start(env, b, "lifeboat.restoreWriteRun");
}
