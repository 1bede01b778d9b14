/* verifyBlobs(pack, packKey, macKey, ids, places): Promise<Uint8Array>, one status per blob
 * packRead(path, into, digest): Promise<number>; packRead(null, bytes, digest, length): Promise<number>
 * check --read-data's work on one pack, on libuv's thread pool (until stop 19 it ran in worker
 * threads, each an isolate of about 20 MiB that compiled the same JavaScript again).
 * packRead reads a pack's file whole into `into` and puts its SHA-256 in digest: the bytes read,
 * or minus the file's size when `into` is too small for it (nothing read); with no path, it only
 * hashes the first `length` bytes already in `into` (a pack read from remote storage).
 * verifyBlobs is the inner loop over the pack's blobs: decrypt each blob (AES-256-GCM, the nonce made of
 * NONCE_BLOB and its offset, its id as associated data), decompress it and compare its HMAC-SHA256
 * with its id, as src/repo/pack-check.ts does with node:crypto. There every blob cost a Decipher,
 * an Hmac and their buffers, 50-80 µs for a 4 KiB blob, where the work is 15: a pack of 8,000
 * small files' blobs took 0.6 s. Here the key is set up once per pack and the buffers are reused.
 * places holds four numbers per blob: offset, stored length, compression (0 none, 1 zstd), raw
 * length; ids 32 bytes per blob. Status 0 is a whole blob; any other only says that it is not,
 * and the caller decodes it again with node:crypto to say why. The OpenSSL is Node's own. */
#define _GNU_SOURCE
#include "async_job.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TAG_BYTES 16
#define ID_BYTES 32

enum { BLOB_OK = 0, BLOB_OUT_OF_RANGE = 1, BLOB_NOT_AUTHENTIC = 2, BLOB_NOT_DECOMPRESSED = 3, BLOB_WRONG_ID = 4 };

/* zstd_blob.c: decompresses into dst; the frame's size, or -1. */
int64_t zstd_decompress_to(void *dst, size_t cap, const void *src, size_t len);
/* blob_crypto.c */
EVP_MAC_CTX *hmac_sha256_new(const unsigned char *key, size_t key_len);
int hmac_sha256_of(EVP_MAC_CTX *mac, const void *data, size_t len, unsigned char *out);
int64_t blob_decrypt(EVP_CIPHER_CTX *cipher, const unsigned char *id, uint64_t offset, const unsigned char *sealed, size_t stored, unsigned char *plain);

napi_value errno_error(napi_env env, int err, const char *syscall); /* lifeboat_native.c */

typedef struct {
  AsyncJob base;
  /* verifyBlobs */
  const uint8_t *pack, *pack_key, *mac_key, *ids;
  size_t pack_len, mac_key_len, count;
  const double *places;
  uint8_t *status;
  /* packRead */
  char *path;
  uint8_t *into, *digest;
  size_t into_len;
  double result;
  int err;
  const char *syscall;
} Job;

/* verifyBlobs: the status buffer, held last. packRead: the bytes read, or its error. */
static void settle(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Job *job = (Job *)base;
  napi_value value;
  if (job->err) {
    napi_reject_deferred(env, deferred, errno_error(env, job->err, job->syscall));
    return;
  }
  if (job->status) value = job_kept(env, base, base->ref_count - 1);
  else napi_create_double(env, job->result, &value);
  napi_resolve_deferred(env, deferred, value);
}

static void release(AsyncJob *base) {
  Job *job = (Job *)base;
  free(job->path);
  free(job);
}

static Job *new_job(void (*run)(AsyncJob *)) {
  Job *job = calloc(1, sizeof *job);
  if (job) job->base = (AsyncJob){.run = run, .settle = settle, .release = release};
  return job;
}

static uint8_t verify_one(EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, const uint8_t *pack, size_t pack_len, const uint8_t *id,
                          const double *place, uint8_t *plain, uint8_t *raw) {
  double offset = place[0], stored = place[1], raw_length = place[3];
  int compressed = place[2] == 1;
  if (offset < 0 || stored < TAG_BYTES || offset + stored > (double)pack_len) return BLOB_OUT_OF_RANGE;
  int64_t plain_len = blob_decrypt(cipher, id, (uint64_t)offset, pack + (size_t)offset, (size_t)stored, plain);
  if (plain_len < 0) return BLOB_NOT_AUTHENTIC;
  const uint8_t *content = plain;
  size_t content_len = (size_t)plain_len;
  if (compressed) {
    int64_t n = zstd_decompress_to(raw, (size_t)raw_length, plain, content_len);
    if (n < 0) return BLOB_NOT_DECOMPRESSED;
    content = raw;
    content_len = (size_t)n;
  }
  if ((double)content_len != raw_length) return BLOB_NOT_DECOMPRESSED;
  uint8_t digest[32];
  if (!hmac_sha256_of(mac, content, content_len, digest)) return BLOB_WRONG_ID;
  return memcmp(digest, id, ID_BYTES) == 0 ? BLOB_OK : BLOB_WRONG_ID;
}

static void verify_all(AsyncJob *base) {
  Job *job = (Job *)base;
  size_t max_stored = 0, max_raw = 0;
  const double *p = job->places;
  for (size_t i = 0; i < job->count; i++) {
    if (p[4 * i + 1] > 0 && p[4 * i + 1] <= (double)job->pack_len && (size_t)p[4 * i + 1] > max_stored) max_stored = (size_t)p[4 * i + 1];
    if (p[4 * i + 3] > 0 && p[4 * i + 3] < (double)(1u << 30) && (size_t)p[4 * i + 3] > max_raw) max_raw = (size_t)p[4 * i + 3];
  }
  uint8_t *plain = malloc(max_stored + 1), *raw = malloc(max_raw + 1);
  EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
  EVP_MAC_CTX *mac = hmac_sha256_new(job->mac_key, job->mac_key_len);
  int ready = plain && raw && cipher && mac && EVP_DecryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, job->pack_key, NULL) == 1;
  for (size_t i = 0; i < job->count; i++) {
    /* Without its contexts nothing is verified here: every blob goes back to node:crypto. */
    job->status[i] = ready ? verify_one(cipher, mac, job->pack, job->pack_len, job->ids + i * ID_BYTES, p + 4 * i, plain, raw) : BLOB_NOT_AUTHENTIC;
  }
  EVP_MAC_CTX_free(mac);
  EVP_CIPHER_CTX_free(cipher);
  free(plain);
  free(raw);
}

napi_value verify_blobs(napi_env env, napi_callback_info info) {
  static const char usage[] = "verifyBlobs(pack, packKey[32], macKey, ids[32 * n], places: Float64Array[4 * n])";
  size_t argc = 5; napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(verify_all);
  if (!job) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  AsyncJob *b = &job->base;
  size_t pack_key_len, ids_len, places_len;
  if (argc < 5 || !job_hold(env, b, argv[0], napi_uint8_array, (void **)&job->pack, &job->pack_len) ||
      !job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->pack_key, &pack_key_len) ||
      !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->mac_key, &job->mac_key_len) || !job_hold(env, b, argv[3], napi_uint8_array, (void **)&job->ids, &ids_len) ||
      !job_hold(env, b, argv[4], napi_float64_array, (void **)&job->places, &places_len) || pack_key_len != 32 || places_len % 4 != 0 ||
      ids_len != places_len / 4 * ID_BYTES)
    return job_refuse(env, b, usage);
  job->count = places_len / 4;
  napi_value status;
  if (napi_create_buffer(env, job->count, (void **)&job->status, &status) != napi_ok || !job_keep(env, b, status)) return job_refuse(env, b, usage);
  return job_start(env, b, "lifeboat.verifyBlobs");
}

static void read_and_hash(AsyncJob *base) {
  Job *job = (Job *)base;
  size_t length = (size_t)job->result;
  if (job->path) {
    int fd = open(job->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      job->err = errno, job->syscall = fd < 0 ? "open" : "fstat";
      if (fd >= 0) close(fd);
      return;
    }
    if ((size_t)st.st_size > job->into_len) {
      close(fd);
      job->result = -(double)st.st_size;
      return;
    }
    length = 0;
    while (length < (size_t)st.st_size) {
      ssize_t n = pread(fd, job->into + length, (size_t)st.st_size - length, (off_t)length);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) job->err = errno, job->syscall = "read";
      if (n <= 0) break; /* shrunk meanwhile: the hash says so */
      length += (size_t)n;
    }
    close(fd);
    if (job->err) return;
  }
  unsigned int digest_len = 0;
  if (EVP_Digest(job->into, length, job->digest, &digest_len, EVP_sha256(), NULL) != 1) job->err = EIO, job->syscall = "SHA-256";
  job->result = (double)length;
}

napi_value pack_read(napi_env env, napi_callback_info info) {
  static const char usage[] = "packRead(path | null, into: Uint8Array, digest: Uint8Array[32], length?)";
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(read_and_hash);
  if (!job) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  AsyncJob *b = &job->base;
  napi_valuetype type;
  size_t digest_len, path_len;
  if (argc < 3 || napi_typeof(env, argv[0], &type) != napi_ok || !job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->into, &job->into_len) ||
      !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->digest, &digest_len) || digest_len != 32)
    return job_refuse(env, b, usage);
  if (type == napi_string) {
    if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_len) != napi_ok || !(job->path = malloc(path_len + 1))) return job_refuse(env, b, usage);
    napi_get_value_string_utf8(env, argv[0], job->path, path_len + 1, &path_len);
  } else if (type != napi_null || argc < 4 || napi_get_value_double(env, argv[3], &job->result) != napi_ok || !(job->result >= 0) ||
             job->result > (double)job->into_len) {
    return job_refuse(env, b, usage);
  }
  return job_start(env, b, "lifeboat.packRead");
}
