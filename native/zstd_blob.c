/* zstdCompress(data, level): Buffer and zstdDecompress(data, rawLength): Buffer | undefined
 * One blob at a time with a compression and a decompression context kept per thread. node:zlib
 * builds a new context, a stream object and its output list for every call: about 15 µs and,
 * for compression at level 1, a fresh set of match tables each time, for blobs that are 1 KiB to
 * 8 MiB. The zstd library is the one inside Node.js (its symbols are exported for addons); no
 * header ships with it, so the few functions used are declared here and looked up when first
 * needed: a Node.js without them makes zstdAvailable() false and the caller uses node:zlib. */
#define _GNU_SOURCE
#include "addon.h"
#include <node_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;

static struct {
  ZSTD_CCtx *(*createCCtx)(void);
  size_t (*freeCCtx)(ZSTD_CCtx *);
  size_t (*compressCCtx)(ZSTD_CCtx *, void *, size_t, const void *, size_t, int);
  size_t (*compressBound)(size_t);
  ZSTD_DCtx *(*createDCtx)(void);
  size_t (*freeDCtx)(ZSTD_DCtx *);
  size_t (*decompressDCtx)(ZSTD_DCtx *, void *, size_t, const void *, size_t);
  unsigned (*isError)(size_t);
  const char *(*getErrorName)(size_t);
} zstd;
static int zstd_found;

typedef struct {
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  void *out;  /* compression output, copied into a Buffer of the exact size */
  size_t out_cap;
} ThreadState;

static pthread_key_t state_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Worker threads end with the worker: their contexts go with them. */
static void free_state(void *p) {
  ThreadState *s = p;
  if (s->cctx) zstd.freeCCtx(s->cctx);
  if (s->dctx) zstd.freeDCtx(s->dctx);
  free(s->out);
  free(s);
}

#define FIND(field, name) (zstd.field = (__typeof__(zstd.field))dlsym(RTLD_DEFAULT, name))
static void setup(void) {
  zstd_found = FIND(createCCtx, "ZSTD_createCCtx") && FIND(freeCCtx, "ZSTD_freeCCtx") && FIND(compressCCtx, "ZSTD_compressCCtx") &&
               FIND(compressBound, "ZSTD_compressBound") && FIND(createDCtx, "ZSTD_createDCtx") && FIND(freeDCtx, "ZSTD_freeDCtx") &&
               FIND(decompressDCtx, "ZSTD_decompressDCtx") && FIND(isError, "ZSTD_isError") && FIND(getErrorName, "ZSTD_getErrorName");
  pthread_key_create(&state_key, free_state);
}

static ThreadState *thread_state(void) {
  pthread_once(&once, setup);
  if (!zstd_found) return NULL;
  ThreadState *s = pthread_getspecific(state_key);
  if (!s && (s = calloc(1, sizeof *s))) pthread_setspecific(state_key, s);
  return s;
}


static int bytes_arg(napi_env env, napi_value value, void **data, size_t *len) {
  if (typed_array_data(env, value, napi_uint8_array, data, len)) return 1;
  napi_throw_type_error(env, NULL, "expected a Uint8Array");
  return 0;
}

napi_value zstd_available(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  pthread_once(&once, setup);
  napi_get_boolean(env, zstd_found, &result);
  return result;
}

/* This thread's state with its compression context, or NULL with a JavaScript error thrown. */
static ThreadState *compressing_state(napi_env env) {
  ThreadState *s = thread_state();
  if (!s) { napi_throw_error(env, NULL, "zstd is not available"); return NULL; }
  if (!s->cctx && !(s->cctx = zstd.createCCtx())) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  return s;
}

/* One frame of src into dst: its length, or -1 with zstd's error thrown. */
static int64_t compress_or_throw(napi_env env, ThreadState *s, void *dst, size_t cap, const void *src, size_t len, int level) {
  size_t n = zstd.compressCCtx(s->cctx, dst, cap, src, len, level);
  if (zstd.isError(n)) { napi_throw_error(env, NULL, zstd.getErrorName(n)); return -1; }
  return (int64_t)n;
}

napi_value zstd_compress(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src; size_t len; int32_t level;
  if (argc < 2 || !bytes_arg(env, argv[0], &src, &len) || napi_get_value_int32(env, argv[1], &level) != napi_ok) return NULL;
  ThreadState *s = compressing_state(env);
  if (!s) return NULL;
  size_t bound = zstd.compressBound(len);
  if (bound > s->out_cap) {
    void *grown = realloc(s->out, bound);
    if (!grown) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
    s->out = grown; s->out_cap = bound;
  }
  int64_t n = compress_or_throw(env, s, s->out, bound, src, len, level);
  if (n < 0) return NULL;
  napi_value result;
  void *copy;
  napi_create_buffer_copy(env, (size_t)n, s->out, &copy, &result);
  return result;
}

/* For verify_blobs.c: decompresses into dst with this thread's context; the frame's size, or -1
 * when it is not one frame that fits (or zstd is not there). */
int64_t zstd_decompress_to(void *dst, size_t cap, const void *src, size_t len) {
  ThreadState *s = thread_state();
  if (!s || (!s->dctx && !(s->dctx = zstd.createDCtx()))) return -1;
  size_t n = zstd.decompressDCtx(s->dctx, dst, cap, src, len);
  return zstd.isError(n) ? -1 : (int64_t)n;
}

/* For chunk_files.c, whose lanes keep a compression context each (a run goes to any thread of libuv's pool). */
void *zstd_cctx_new(void) {
  pthread_once(&once, setup);
  return zstd_found ? zstd.createCCtx() : NULL;
}

void zstd_cctx_free(void *cctx) {
  if (cctx) zstd.freeCCtx(cctx);
}

size_t zstd_bound(size_t len) {
  return zstd.compressBound(len);
}

/* One frame into dst: its length, or -1 (no room, or zstd's error). */
int64_t zstd_compress_with(void *cctx, void *dst, size_t cap, const void *src, size_t len, int level) {
  size_t n = zstd.compressCCtx(cctx, dst, cap, src, len, level);
  return zstd.isError(n) ? -1 : (int64_t)n;
}

/* undefined when the data is not one zstd frame of exactly rawLength bytes: the caller asks
 * node:zlib again, whose error says what is wrong. */
napi_value zstd_decompress(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src; size_t len; int64_t raw;
  if (argc < 2 || !bytes_arg(env, argv[0], &src, &len) || napi_get_value_int64(env, argv[1], &raw) != napi_ok) return NULL;
  napi_value result, undefined;
  napi_get_undefined(env, &undefined);
  if (raw < 0) return undefined;
  void *out;
  if (napi_create_buffer(env, (size_t)raw, &out, &result) != napi_ok) return NULL;
  /* A frame holding more than rawLength fails with "destination too small", one holding less
   * returns less: both are told apart from a whole blob. */
  return zstd_decompress_to(out, (size_t)raw, src, len) == raw ? result : undefined;
}
