/* sha256Create(): object; sha256Update(hash, data: Uint8Array): Promise<void>; sha256Digest(hash): Buffer
 * A SHA-256 of a stream whose pieces are hashed on libuv's thread pool: a pack's name, the hash of
 * its file, computed while the pack is written (src/repo/pack-writer.ts). On the main thread the
 * hash of a full backup's packs took 0.21 s of its 2 s, and the main thread sets the lanes' pace.
 * The caller gives one piece at a time (each update after the last one settled): the pieces of one
 * hash must go in order, and two threads must not update one context at once. */
#include "addon.h"
#include "async_job.h"
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
  EVP_MD_CTX *ctx;
  int busy, finished;
} Hash;

static void finalize_hash(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  Hash *h = data;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}


napi_value sha256_create(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value external = NULL;
  int adopted = 0;
  Hash *h = calloc(1, sizeof *h);
  if (h) h->ctx = EVP_MD_CTX_new();
  if (h && h->ctx && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1) external = tagged_external(env, h, finalize_hash, &HASH_TAG, &adopted);
  if (!external) {
    if (h && !adopted) {
      EVP_MD_CTX_free(h->ctx);
      free(h);
    }
    napi_throw_error(env, NULL, "cannot set up SHA-256 (OpenSSL or memory missing)");
    return NULL;
  }
  return external;
}

typedef struct {
  AsyncJob base;
  Hash *hash;
  const uint8_t *data;
  size_t len;
  int failed;
} Job;

static void run(AsyncJob *base) {
  Job *job = (Job *)base;
  job->failed = EVP_DigestUpdate(job->hash->ctx, job->data, job->len) != 1;
}

static void settle(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Job *job = (Job *)base;
  napi_value value;
  job->hash->busy = 0;
  if (job->failed) {
    job->hash->finished = 1; /* its state is unknown: no digest may come from it */
    napi_create_string_utf8(env, "SHA-256 update failed", NAPI_AUTO_LENGTH, &value);
    napi_value error;
    napi_create_error(env, NULL, value, &error);
    napi_reject_deferred(env, deferred, error);
    return;
  }
  napi_get_undefined(env, &value);
  napi_resolve_deferred(env, deferred, value);
}

napi_value sha256_update(napi_env env, napi_callback_info info) {
  static const char usage[] = "sha256Update(hash from sha256Create, data: Uint8Array), one at a time, before sha256Digest";
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = job_new(env, sizeof *job, run, settle, NULL);
  if (!job) return NULL;
  job->hash = argc == 2 ? external_arg(env, argv[0], &HASH_TAG) : NULL;
  if (!job->hash || job->hash->busy || job->hash->finished || !job_keep(env, &job->base, argv[0]) ||
      !job_hold(env, &job->base, argv[1], napi_uint8_array, (void **)&job->data, &job->len))
    return job_refuse(env, &job->base, usage);
  napi_value promise = job_start(env, &job->base, "lifeboat.sha256Update");
  if (promise) job->hash->busy = 1;
  return promise;
}

napi_value sha256_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Hash *h = argc == 1 ? external_arg(env, argv[0], &HASH_TAG) : NULL;
  void *out;
  unsigned int len = 0;
  if (!h || h->busy || h->finished) {
    napi_throw_type_error(env, NULL, "sha256Digest(hash from sha256Create), once, with no update in flight");
    return NULL;
  }
  h->finished = 1;
  if (napi_create_buffer(env, 32, &out, &result) != napi_ok || EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != 32) {
    napi_throw_error(env, NULL, "SHA-256 digest failed");
    return NULL;
  }
  return result;
}
