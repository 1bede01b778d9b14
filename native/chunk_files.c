/* chunkLaneCreate(gear, params, blobIdKey, known): Lane
 * chunkLaneRun(lane, paths, count, out, records, ids): Promise<void>
 * chunkLaneClose(lane)
 * A backup's reading of files, on libuv's thread pool: each file is read, cut into chunks
 * (FastCDC, as src/repo/chunker.ts cuts), each chunk named by its keyed HMAC-SHA256, looked up in
 * the table of known id prefixes (src/repo/id-prefixes.ts) and, when not known, compressed with
 * zstd into `out`. Until stop 19 worker threads did this (src/engine/chunk-worker.ts): each cost an
 * isolate of about 20 MiB, compiled the same JavaScript again, and sent every chunk's description
 * through a structured clone.
 *
 * A lane reads one file at a time and keeps a file it has not finished for its next run, with the
 * bytes it has read and not yet cut. A run takes the paths it is given (NUL-terminated, one after
 * the other) in order and stops when they are all done, or when out or records have no room for
 * the next chunk: memory stays bounded whatever the file size. The caller runs one run per lane
 * at a time. records holds, from index RECORDS_START, RECORD_FIELDS numbers per record, and at its
 * start the count of records, the count of paths started and whether a file is left unfinished:
 *   CHUNK:  type, file, index in the file, start in out (-1: known, no bytes), length, compression
 *           (0 none, 1 zstd), raw length, offset in the file; its id in ids, 32 bytes per record
 *   DONE:   type, file, chunks, bytes read, changed (size, mtime or ctime moved while reading, or
 *           the bytes read differ from the size), size, mtime s, mtime ns, ctime s, ctime ns
 *   FAILED: type, file, errno, the call that failed (SYSCALL_*)
 * `file` is the index of the path in this run, or -1 for the file left unfinished by the last. */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include "file_write.h"
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_BYTES 32
enum { SYSCALL_OPEN = 1, SYSCALL_READ = 2, SYSCALL_FSTAT = 3 };

size_t gear_cut_between(const uint8_t *p, size_t from, size_t normal_end, size_t limit_end, uint32_t strict_mask, uint32_t loose_mask,
                        const uint32_t *gear); /* gear_cut.c */
void *zstd_cctx_new(void); /* zstd_blob.c */
void zstd_cctx_free(void *cctx);
size_t zstd_bound(size_t len);
int64_t zstd_compress_with(void *cctx, void *dst, size_t cap, const void *src, size_t len, int level);
EVP_MAC_CTX *hmac_sha256_new(const unsigned char *key, size_t key_len); /* blob_crypto.c */
int hmac_sha256_of(EVP_MAC_CTX *mac, const void *data, size_t len, unsigned char *out);

typedef struct {
  uint32_t gear[256];
  size_t min, avg, max;
  uint32_t strict_mask, loose_mask;
  int level;
  /* lib/zstd.ts's worthCompressing and worthStoringCompressed, given as numbers */
  size_t compress_from, must_save;
  napi_ref known_ref;
  const uint64_t *known;
  size_t known_slots;
  EVP_MAC_CTX *mac;
  void *cctx;
  uint8_t *buf;
  size_t cap;
  int running, closed;
  /* the file being read */
  int fd, eof;
  size_t len;
  uint64_t buffer_at, bytes_read, chunks;
  struct stat before;
} Lane;

typedef struct {
  AsyncJob base;
  Lane *lane;
  const char *paths;
  size_t paths_len, count;
  uint8_t *out;
  size_t out_cap, out_used;
  double *records;
  size_t record_cap, record_count;
  uint8_t *ids;
  int err; /* ENOMEM and the like: the run itself failed */
} Run;

/* The chunk starting at buf[start], as Chunker.nextCut finds it: its end, or 0 when more bytes are needed. */
static size_t next_cut(Lane *l, size_t start, size_t end, int final) {
  size_t available = end - start;
  if (available <= l->min) return final ? end : 0;
  size_t limit = available < l->max ? available : l->max;
  size_t normal = l->avg < limit ? l->avg : limit;
  size_t cut = gear_cut_between(l->buf, start + l->min, start + normal, start + limit, l->strict_mask, l->loose_mask, l->gear);
  if (cut) return cut;
  return limit == l->max || final ? start + limit : 0;
}

/* Whether the table holds the id's prefix (id-prefixes.ts: its first 8 bytes little-endian, 0 stored
 * as 1, linear probing from its low 32 bits). The main thread adds to it meanwhile: a slot read
 * half-written only decides whether one chunk is compressed, never which blob it is. */
static int known(Lane *l, const uint8_t *id) {
  uint64_t prefix = 0;
  for (int i = 7; i >= 0; i--) prefix = (prefix << 8) | id[i];
  if (!prefix) prefix = 1;
  size_t mask = l->known_slots - 1;
  for (size_t s = (uint32_t)prefix & mask;; s = (s + 1) & mask) {
    uint64_t slot = __atomic_load_n(&l->known[s], __ATOMIC_RELAXED);
    if (slot == 0) return 0;
    if (slot == prefix) return 1;
  }
}

static double *add_record(Run *r, int type, double file) {
  double *rec = r->records + RECORDS_START + r->record_count++ * RECORD_FIELDS;
  memset(rec, 0, RECORD_FIELDS * sizeof *rec);
  rec[0] = type;
  rec[1] = file;
  return rec;
}

/* One chunk named, looked up and put in out; 0 when out or records have no room for it (nothing done). */
static int emit(Run *r, double file, const uint8_t *data, size_t len, uint64_t offset) {
  Lane *l = r->lane;
  if (r->record_count + 2 > r->record_cap) return 0; /* one left for the file's DONE */
  uint8_t id[ID_BYTES];
  if (!hmac_sha256_of(l->mac, data, len, id)) {
    r->err = EIO;
    return 0;
  }
  double start = -1, length = 0, compression = 0;
  if (!known(l, id)) {
    int compress = l->cctx && len >= l->compress_from;
    size_t room = compress ? zstd_bound(len) : len;
    if (r->out_used + room > r->out_cap) return 0;
    uint8_t *dst = r->out + r->out_used;
    int64_t n = compress ? zstd_compress_with(l->cctx, dst, room, data, len, l->level) : -1;
    if (n >= 0 && (size_t)n + l->must_save < len) {
      compression = 1;
    } else {
      memcpy(dst, data, len);
      n = (int64_t)len;
    }
    start = (double)r->out_used;
    length = (double)n;
    r->out_used += (size_t)n;
  }
  memcpy(r->ids + r->record_count * ID_BYTES, id, ID_BYTES);
  double *rec = add_record(r, RECORD_CHUNK, file);
  rec[2] = (double)l->chunks++;
  rec[3] = start;
  rec[4] = length;
  rec[5] = compression;
  rec[6] = (double)len;
  rec[7] = (double)offset;
  return 1;
}

static void finish_file(Run *r, double file, int err, int syscall) {
  Lane *l = r->lane;
  struct stat after;
  if (!err && fstat(l->fd, &after) != 0) err = errno, syscall = SYSCALL_FSTAT;
  double *rec = add_record(r, err ? RECORD_FAILED : RECORD_DONE, file);
  if (err) {
    rec[2] = err;
    rec[3] = syscall;
  } else {
    struct stat *b = &l->before;
    int changed = after.st_size != b->st_size || after.st_mtim.tv_sec != b->st_mtim.tv_sec || after.st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
                  after.st_ctim.tv_sec != b->st_ctim.tv_sec || after.st_ctim.tv_nsec != b->st_ctim.tv_nsec || (off_t)l->bytes_read != after.st_size;
    double fields[] = {(double)l->chunks, (double)l->bytes_read, changed, (double)after.st_size, (double)after.st_mtim.tv_sec,
                       (double)after.st_mtim.tv_nsec, (double)after.st_ctim.tv_sec, (double)after.st_ctim.tv_nsec};
    memcpy(rec + 2, fields, sizeof fields);
  }
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
}

/* Reads and cuts the lane's current file until it is done (1) or out of room (0). */
static int continue_file(Run *r, double file) {
  Lane *l = r->lane;
  for (;;) {
    while (!l->eof && l->len < l->cap) {
      ssize_t n = read(l->fd, l->buf + l->len, l->cap - l->len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        finish_file(r, file, errno, SYSCALL_READ);
        return 1;
      }
      if (n == 0) l->eof = 1;
      l->len += (size_t)n;
      l->bytes_read += (uint64_t)n;
    }
    size_t start = 0, cut;
    int room = 1;
    while (start < l->len && (cut = next_cut(l, start, l->len, l->eof)) > start) {
      if (!(room = emit(r, file, l->buf + start, cut - start, l->buffer_at + start))) break;
      start = cut;
    }
    memmove(l->buf, l->buf + start, l->len - start);
    l->len -= start;
    l->buffer_at += start;
    if (!room) return 0;
    if (l->eof && l->len == 0) {
      finish_file(r, file, 0, 0);
      return 1;
    }
  }
}

static void run_lane(AsyncJob *base) {
  Run *r = (Run *)base;
  Lane *l = r->lane;
  double *head = r->records;
  head[RUN_STARTED] = 0;
  int done = l->fd < 0 || continue_file(r, -1);
  const char *path = r->paths;
  while (done && !r->err && (size_t)head[RUN_STARTED] < r->count && r->record_count + 2 <= r->record_cap) {
    double file = head[RUN_STARTED]++;
    size_t path_len = strnlen(path, (size_t)(r->paths + r->paths_len - path));
    l->eof = 0, l->len = 0, l->buffer_at = 0, l->bytes_read = 0, l->chunks = 0;
    l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (l->fd < 0) finish_file(r, file, errno, SYSCALL_OPEN);
    else if (fstat(l->fd, &l->before) != 0) finish_file(r, file, errno, SYSCALL_FSTAT);
    else done = continue_file(r, file);
    path += path_len + 1;
  }
  head[RUN_RECORDS] = (double)r->record_count;
  head[RUN_CARRIED] = l->fd >= 0;
}

static void release_lane(Lane *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  EVP_MAC_CTX_free(l->mac);
  zstd_cctx_free(l->cctx);
  free(l->buf);
  l->mac = NULL, l->cctx = NULL, l->buf = NULL;
  l->closed = 1;
}

static void run_settled(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Run *r = (Run *)base;
  r->lane->running = 0;
  napi_value value;
  if (r->err) {
    napi_create_string_utf8(env, r->err == ENOMEM ? "out of memory while reading files" : "reading files failed", NAPI_AUTO_LENGTH, &value);
    napi_create_error(env, NULL, value, &value);
    napi_reject_deferred(env, deferred, value);
  } else {
    napi_get_undefined(env, &value);
    napi_resolve_deferred(env, deferred, value);
  }
}

static void finalize_lane(napi_env env, void *data, void *hint) {
  (void)hint;
  Lane *l = data;
  if (!l->closed) release_lane(l);
  napi_delete_reference(env, l->known_ref);
  free(l);
}


napi_value chunk_lane_create(napi_env env, napi_callback_info info) {
  static const char usage[] = "chunkLaneCreate(gear: Uint32Array[256], params: Float64Array[min, avg, max, readBytes, level, compressFrom, mustSave, strictMask, looseMask], blobIdKey[32], known: BigUint64Array)";
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t *gear; double *p; uint8_t *key; uint64_t *table;
  size_t gear_len, p_len, key_len, slots;
  if (argc < 4 || !typed_array_data(env, argv[0], napi_uint32_array, (void **)&gear, &gear_len) || gear_len != 256 ||
      !typed_array_data(env, argv[1], napi_float64_array, (void **)&p, &p_len) || p_len != 9 ||
      !typed_array_data(env, argv[2], napi_uint8_array, (void **)&key, &key_len) || key_len != 32 ||
      !typed_array_data(env, argv[3], napi_biguint64_array, (void **)&table, &slots) || slots == 0 || (slots & (slots - 1)) != 0 ||
      !(p[0] > 0 && p[0] <= p[1] && p[1] <= p[2] && p[3] >= 2 * p[2])) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  Lane *l = calloc(1, sizeof *l);
  if (!l) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  memcpy(l->gear, gear, sizeof l->gear);
  l->min = (size_t)p[0], l->avg = (size_t)p[1], l->max = (size_t)p[2], l->cap = (size_t)p[3];
  l->level = (int)p[4], l->compress_from = (size_t)p[5], l->must_save = (size_t)p[6];
  l->strict_mask = (uint32_t)p[7], l->loose_mask = (uint32_t)p[8];
  l->known = table, l->known_slots = slots, l->fd = -1;
  l->mac = hmac_sha256_new(key, key_len);
  l->cctx = zstd_cctx_new(); /* none: chunks are stored raw, still correct */
  l->buf = buffer_alloc(l->cap); /* filled whole again and again: huge pages save its faults */
  napi_value external = NULL;
  int adopted = 0;
  if (l->mac && l->buf && napi_create_reference(env, argv[3], 1, &l->known_ref) == napi_ok) external = tagged_external(env, l, finalize_lane, &LANE_TAG, &adopted);
  if (!external) {
    if (!adopted) {
      release_lane(l);
      if (l->known_ref) napi_delete_reference(env, l->known_ref);
      free(l);
    }
    napi_throw_error(env, NULL, "cannot set up a chunking lane (HMAC-SHA256 or memory missing)");
    return NULL;
  }
  return external;
}

napi_value chunk_lane_run(napi_env env, napi_callback_info info) {
  static const char usage[] = "chunkLaneRun(lane, paths: Uint8Array, count, out: Uint8Array, records: Float64Array, ids: Uint8Array)";
  size_t argc = 6; napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Run *r = job_new(env, sizeof *r, run_lane, run_settled, NULL);
  if (!r) return NULL;
  AsyncJob *b = &r->base;
  double count;
  size_t records_len, ids_len;
  if (argc < 6 || !(r->lane = external_arg(env, argv[0], &LANE_TAG)) || r->lane->running || r->lane->closed || !job_keep(env, b, argv[0]) ||
      !job_hold(env, b, argv[1], napi_uint8_array, (void **)&r->paths, &r->paths_len) || napi_get_value_double(env, argv[2], &count) != napi_ok ||
      !job_hold(env, b, argv[3], napi_uint8_array, (void **)&r->out, &r->out_cap) ||
      !job_hold(env, b, argv[4], napi_float64_array, (void **)&r->records, &records_len) ||
      !job_hold(env, b, argv[5], napi_uint8_array, (void **)&r->ids, &ids_len) || records_len < RECORDS_START + 2 * RECORD_FIELDS ||
      !(count >= 0) || (r->paths_len > 0 && r->paths[r->paths_len - 1] != 0))
    return job_refuse(env, b, usage);
  size_t nuls = 0;
  for (size_t i = 0; i < r->paths_len; i++) nuls += r->paths[i] == 0;
  r->count = (size_t)count < nuls ? (size_t)count : nuls;
  r->record_cap = (records_len - RECORDS_START) / RECORD_FIELDS;
  if (r->record_cap > ids_len / ID_BYTES) r->record_cap = ids_len / ID_BYTES;
  napi_value promise = job_start(env, b, "lifeboat.chunkFiles");
  if (promise) r->lane->running = 1;
  return promise;
}

/* Closes the lane's file and frees its buffers; not while a run is going. */
napi_value chunk_lane_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Lane *l = argc < 1 ? NULL : external_arg(env, argv[0], &LANE_TAG);
  if (!l || l->running) {
    napi_throw_type_error(env, NULL, "chunkLaneClose(lane), with no run going");
    return NULL;
  }
  if (!l->closed) release_lane(l);
  return NULL;
}
