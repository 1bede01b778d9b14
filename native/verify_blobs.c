/* verifyBlobs(pack, packKey, macKey, ids, places): Promise<Uint8Array>, one status per blob
 * packVerifyFile(fd, packKey, macKey, ids, places, status, digest, tail): Promise<number>
 * packHash(bytes, digest): Promise<void>
 * check --read-data's work on one pack, on libuv's thread pool (until stop 19 it ran in worker
 * threads, each an isolate of about 20 MiB that compiled the same JavaScript again).
 * verifyBlobs is the inner loop over the pack's blobs: decrypt each blob (AES-256-GCM, the nonce made of
 * NONCE_BLOB and its offset, its id as associated data), decompress it and compare its HMAC-SHA256
 * with its id, as src/repo/pack-check.ts does with node:crypto. There every blob cost a Decipher,
 * an Hmac and their buffers, 50-80 µs for a 4 KiB blob, where the work is 15: a pack of 8,000
 * small files' blobs took 0.6 s. Here the key is set up once per pack and the buffers are reused.
 * packVerifyFile does the same for a pack in a file on this machine as it reads it, through a
 * window of the largest blob and one more read: each blob is verified once its bytes are in, and
 * the file is hashed as it goes (its SHA-256 in digest, its last bytes in tail, for the header).
 * It resolves with the bytes read. Until stop 26 the file was read whole into a buffer of its
 * size, two of them at once: 33 MiB of check's peak on the bench corpus, and more for bigger packs.
 * packHash only hashes a pack read whole (from remote storage).
 * places holds four numbers per blob: offset, stored length, compression (0 none, 1 zstd), raw
 * length; ids 32 bytes per blob. Status 0 is a whole blob; any other only says that it is not,
 * and the caller decodes it again with node:crypto to say why. The OpenSSL is Node's own. */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include <errno.h>
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


typedef struct {
  AsyncJob base;
  /* verifyBlobs */
  const uint8_t *pack, *pack_key, *mac_key, *ids;
  size_t pack_len, mac_key_len, count;
  const double *places;
  uint8_t *status;
  /* packVerifyFile, packHash */
  int fd;
  uint8_t *digest, *tail;
  size_t tail_len;
  double result;
  int resolves_status;
  int err;
  const char *syscall;
} Job;

/* verifyBlobs: the status buffer, held last. packVerifyFile: the bytes read. Or the error. */
static void settle(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Job *job = (Job *)base;
  napi_value value;
  if (job->err) {
    napi_reject_deferred(env, deferred, errno_error(env, job->err, job->syscall));
    return;
  }
  if (job->resolves_status) value = job_kept(env, base, base->ref_count - 1);
  else napi_create_double(env, job->result, &value);
  napi_resolve_deferred(env, deferred, value);
}

static Job *new_job(napi_env env, void (*run)(AsyncJob *)) {
  return job_new(env, sizeof(Job), run, settle, NULL);
}

typedef struct {
  uint8_t *plain, *raw;
  EVP_CIPHER_CTX *cipher;
  EVP_MAC_CTX *mac;
  int ready;
} Verifier;

/* The contexts and buffers for one pack's blobs, up to max_stored sealed and max_raw decoded bytes
 * each. Without them (ready 0) nothing is verified here: every blob goes back to node:crypto. */
static Verifier verifier_open(const Job *job, size_t max_stored, size_t max_raw) {
  Verifier v = {malloc(max_stored + 1), malloc(max_raw + 1), EVP_CIPHER_CTX_new(), hmac_sha256_new(job->mac_key, job->mac_key_len), 0};
  v.ready = v.plain && v.raw && v.cipher && v.mac && EVP_DecryptInit_ex(v.cipher, EVP_aes_256_gcm(), NULL, job->pack_key, NULL) == 1;
  return v;
}

static void verifier_close(Verifier *v) {
  EVP_MAC_CTX_free(v->mac);
  EVP_CIPHER_CTX_free(v->cipher);
  free(v->plain);
  free(v->raw);
}

/* A blob whose sealed bytes are at `sealed`: decrypted (its nonce bound to its offset in the pack),
 * decompressed and MACed against its id. */
static uint8_t verify_sealed(const Verifier *v, const uint8_t *sealed, const uint8_t *id, const double *place) {
  if (!v->ready) return BLOB_NOT_AUTHENTIC;
  EVP_CIPHER_CTX *cipher = v->cipher;
  EVP_MAC_CTX *mac = v->mac;
  uint8_t *plain = v->plain, *raw = v->raw;
  double offset = place[0], stored = place[1], raw_length = place[3];
  int compressed = place[2] == 1;
  int64_t plain_len = blob_decrypt(cipher, id, (uint64_t)offset, sealed, (size_t)stored, plain);
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

/* Whether a blob's place lies within a pack of pack_len bytes. */
static int in_pack(const double *place, size_t pack_len) {
  return place[0] >= 0 && place[1] >= TAG_BYTES && place[0] + place[1] <= (double)pack_len;
}

static void verify_all(AsyncJob *base) {
  Job *job = (Job *)base;
  size_t max_stored = 0, max_raw = 0;
  const double *p = job->places;
  for (size_t i = 0; i < job->count; i++) {
    if (p[PLACE_FIELDS * i + 1] > 0 && p[PLACE_FIELDS * i + 1] <= (double)job->pack_len && (size_t)p[PLACE_FIELDS * i + 1] > max_stored) max_stored = (size_t)p[PLACE_FIELDS * i + 1];
    if (p[PLACE_FIELDS * i + 3] > 0 && p[PLACE_FIELDS * i + 3] < (double)(1u << 30) && (size_t)p[PLACE_FIELDS * i + 3] > max_raw) max_raw = (size_t)p[PLACE_FIELDS * i + 3];
  }
  Verifier v = verifier_open(job, max_stored, max_raw);
  for (size_t i = 0; i < job->count; i++) {
    const double *place = p + PLACE_FIELDS * i;
    job->status[i] = in_pack(place, job->pack_len) ? verify_sealed(&v, job->pack + (size_t)place[0], job->ids + i * ID_BYTES, place) : BLOB_OUT_OF_RANGE;
  }
  verifier_close(&v);
}

napi_value verify_blobs(napi_env env, napi_callback_info info) {
  static const char usage[] = "verifyBlobs(pack, packKey[32], macKey, ids[32 * n], places: Float64Array[4 * n])";
  size_t argc = 5; napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(env, verify_all);
  if (!job) return NULL;
  AsyncJob *b = &job->base;
  size_t pack_key_len, ids_len, places_len;
  if (argc < 5 || !job_hold(env, b, argv[0], napi_uint8_array, (void **)&job->pack, &job->pack_len) ||
      !job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->pack_key, &pack_key_len) ||
      !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->mac_key, &job->mac_key_len) || !job_hold(env, b, argv[3], napi_uint8_array, (void **)&job->ids, &ids_len) ||
      !job_hold(env, b, argv[4], napi_float64_array, (void **)&job->places, &places_len) || pack_key_len != 32 || places_len % 4 != 0 ||
      ids_len != places_len / PLACE_FIELDS * ID_BYTES)
    return job_refuse(env, b, usage);
  job->count = places_len / PLACE_FIELDS;
  napi_value status;
  if (napi_create_buffer(env, job->count, (void **)&job->status, &status) != napi_ok || !job_keep(env, b, status)) return job_refuse(env, b, usage);
  job->resolves_status = 1;
  return job_start(env, b, "lifeboat.verifyBlobs");
}

/* Each read of packVerifyFile; the window holds the largest blob and one read. */
#define READ_STEP ((size_t)1 << 20)

static int by_offset(const void *a, const void *b, void *places) {
  double x = ((const double *)places)[PLACE_FIELDS * *(const size_t *)a], y = ((const double *)places)[PLACE_FIELDS * *(const size_t *)b];
  return (x > y) - (x < y);
}

static void verify_file(AsyncJob *base) {
  Job *job = (Job *)base;
  struct stat st;
  if (fstat(job->fd, &st) != 0) {
    job->err = errno, job->syscall = "fstat";
    return;
  }
  size_t size = (size_t)st.st_size, count = job->count, pending = 0, max_stored = 0, max_raw = 0;
  const double *p = job->places;
  /* The blobs that lie within the file, in the order their bytes come; the others are out of range. */
  size_t *order = malloc((count ? count : 1) * sizeof *order);
  for (size_t i = 0; order && i < count; i++) {
    job->status[i] = BLOB_OUT_OF_RANGE;
    if (!in_pack(p + PLACE_FIELDS * i, size)) continue;
    order[pending++] = i;
    if ((size_t)p[PLACE_FIELDS * i + 1] > max_stored) max_stored = (size_t)p[PLACE_FIELDS * i + 1];
    if (p[PLACE_FIELDS * i + 3] > 0 && p[PLACE_FIELDS * i + 3] < (double)(1u << 30) && (size_t)p[PLACE_FIELDS * i + 3] > max_raw) max_raw = (size_t)p[PLACE_FIELDS * i + 3];
  }
  if (order) qsort_r(order, pending, sizeof *order, by_offset, (void *)p);
  size_t cap = max_stored + READ_STEP;
  uint8_t *window = malloc(cap);
  EVP_MD_CTX *sha = EVP_MD_CTX_new();
  Verifier v = verifier_open(job, max_stored, max_raw);
  if (!order || !window || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
    job->err = ENOMEM, job->syscall = "malloc";
    goto done;
  }
  /* window[0] is the file's byte at `start`; `len` bytes are in; `at` is the next byte to read. */
  size_t start = 0, len = 0, at = 0, next = 0, tail_from = size > job->tail_len ? size - job->tail_len : 0;
  while (at < size) {
    if (len + READ_STEP > cap) {
      /* Keep from the next blob to verify on: it is not all in yet, so less than max_stored is kept. */
      size_t keep = next < pending ? (size_t)p[PLACE_FIELDS * order[next]] : start + len;
      if (keep > start + len) keep = start + len;
      memmove(window, window + (keep - start), start + len - keep);
      len = start + len - keep;
      start = keep;
    }
    size_t want = size - at < READ_STEP ? size - at : READ_STEP;
    ssize_t got = pread(job->fd, window + len, want, (off_t)at);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      job->err = errno, job->syscall = "read";
      goto done;
    }
    if (got == 0) break; /* shrunk meanwhile: its hash says so, and the blobs not in are out of range */
    EVP_DigestUpdate(sha, window + len, (size_t)got);
    if (at + (size_t)got > tail_from) {
      size_t from = at > tail_from ? at : tail_from;
      memcpy(job->tail + job->tail_len - (size - from), window + len + (from - at), at + (size_t)got - from);
    }
    len += (size_t)got, at += (size_t)got;
    for (; next < pending; next++) {
      size_t i = order[next], offset = (size_t)p[PLACE_FIELDS * i];
      if (offset + (size_t)p[PLACE_FIELDS * i + 1] > start + len) break;
      job->status[i] = verify_sealed(&v, window + (offset - start), job->ids + i * ID_BYTES, p + PLACE_FIELDS * i);
    }
  }
  unsigned int digest_len = 0;
  if (EVP_DigestFinal_ex(sha, job->digest, &digest_len) != 1) job->err = EIO, job->syscall = "SHA-256";
  job->result = (double)at;
done:
  EVP_MD_CTX_free(sha);
  verifier_close(&v);
  free(order);
  free(window);
}

napi_value pack_verify_file(napi_env env, napi_callback_info info) {
  static const char usage[] = "packVerifyFile(fd, packKey[32], macKey, ids[32 * n], places: Float64Array[4 * n], status[n], digest[32], tail)";
  size_t argc = 8; napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(env, verify_file);
  if (!job) return NULL;
  AsyncJob *b = &job->base;
  size_t pack_key_len, ids_len, places_len, status_len, digest_len;
  if (argc < 8 || napi_get_value_int32(env, argv[0], &job->fd) != napi_ok || job->fd < 0 ||
      !job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->pack_key, &pack_key_len) ||
      !job_hold(env, b, argv[2], napi_uint8_array, (void **)&job->mac_key, &job->mac_key_len) || !job_hold(env, b, argv[3], napi_uint8_array, (void **)&job->ids, &ids_len) ||
      !job_hold(env, b, argv[4], napi_float64_array, (void **)&job->places, &places_len) ||
      !job_hold(env, b, argv[5], napi_uint8_array, (void **)&job->status, &status_len) ||
      !job_hold(env, b, argv[6], napi_uint8_array, (void **)&job->digest, &digest_len) ||
      !job_hold(env, b, argv[7], napi_uint8_array, (void **)&job->tail, &job->tail_len) || pack_key_len != 32 || places_len % 4 != 0 ||
      ids_len != places_len / PLACE_FIELDS * ID_BYTES || status_len != places_len / PLACE_FIELDS || digest_len != 32)
    return job_refuse(env, b, usage);
  job->count = places_len / PLACE_FIELDS;
  return job_start(env, b, "lifeboat.packVerifyFile");
}

static void hash_pack(AsyncJob *base) {
  Job *job = (Job *)base;
  unsigned int digest_len = 0;
  if (EVP_Digest(job->pack, job->pack_len, job->digest, &digest_len, EVP_sha256(), NULL) != 1) job->err = EIO, job->syscall = "SHA-256";
}

napi_value pack_hash(napi_env env, napi_callback_info info) {
  static const char usage[] = "packHash(bytes: Uint8Array, digest: Uint8Array[32])";
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = new_job(env, hash_pack);
  if (!job) return NULL;
  AsyncJob *b = &job->base;
  size_t digest_len;
  if (argc < 2 || !job_hold(env, b, argv[0], napi_uint8_array, (void **)&job->pack, &job->pack_len) ||
      !job_hold(env, b, argv[1], napi_uint8_array, (void **)&job->digest, &digest_len) || digest_len != 32)
    return job_refuse(env, b, usage);
  return job_start(env, b, "lifeboat.packHash");
}
