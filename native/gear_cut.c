/* gearCut: the inner loop of the FastCDC chunker (src/repo/chunker.ts), which the JavaScript
 * version ran at about 500 MB/s of hashed bytes: a sixth of a full backup's worker time.
 * The gear hash h = (h << 1) + gear[byte] is a chain of dependent steps; two bytes are taken per
 * step here, h = (h << 2) + ((gear[b0] << 1) + gear[b1]), where the sum in brackets does not
 * depend on h, while the hash after b0 alone is still computed and tested. Every position is
 * tested exactly as in the one-byte loop, so the cut points are the same. */
#include "addon.h"
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* The first i in [from, end) where the hash (continued from *h) has no bit of mask set: i + 1;
 * or 0 when there is none. *h is left as the hash after the last byte scanned. */
static size_t scan(const uint8_t *p, size_t from, size_t end, uint32_t mask, const uint32_t *gear, uint32_t *hash) {
  uint32_t h = *hash;
  size_t i = from;
  for (; i + 1 < end; i += 2) {
    uint32_t g0 = gear[p[i]];
    uint32_t pair = (g0 << 1) + gear[p[i + 1]];
    if ((((h << 1) + g0) & mask) == 0) { *hash = (h << 1) + g0; return i + 1; }
    h = (h << 2) + pair;
    if ((h & mask) == 0) { *hash = h; return i + 2; }
  }
  for (; i < end; i++) {
    h = (h << 1) + gear[p[i]];
    if ((h & mask) == 0) { *hash = h; return i + 1; }
  }
  *hash = h;
  return 0;
}

/* The cut of the gear hash started at 0 at `from`: before normal_end it needs no bit of
 * strict_mask, from there on no bit of loose_mask. The chunk's end, or 0 when there is none
 * before limit_end. chunk_files.c cuts with it too. */
size_t gear_cut_between(const uint8_t *p, size_t from, size_t normal_end, size_t limit_end, uint32_t strict_mask, uint32_t loose_mask, const uint32_t *gear) {
  uint32_t h = 0;
  size_t cut = scan(p, from, normal_end, strict_mask, gear, &h);
  return cut ? cut : scan(p, normal_end, limit_end, loose_mask, gear, &h);
}

static uint32_t u32(napi_env env, napi_value v) {
  uint32_t x = 0;
  napi_get_value_uint32(env, v, &x);
  return x;
}

/* gearCut(bytes, from, normalEnd, limitEnd, strictMask, looseMask, gear) -> the cut (exclusive
 * end of the chunk) or -1 when there is none before limitEnd. The hash starts at 0 at `from`;
 * before normalEnd a cut needs no bit of strictMask, from there on no bit of looseMask. */
napi_value gear_cut(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type; size_t length, offset; void *data; napi_value ab;
  if (argc < 7 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "gearCut: expected a Uint8Array");
    return NULL;
  }
  size_t gear_length; void *gear_data;
  if (napi_get_typedarray_info(env, argv[6], &type, &gear_length, &gear_data, &ab, &offset) != napi_ok || type != napi_uint32_array || gear_length != 256) {
    napi_throw_type_error(env, NULL, "gearCut: expected a Uint32Array of 256 gear values");
    return NULL;
  }
  size_t from = u32(env, argv[1]), normal_end = u32(env, argv[2]), limit_end = u32(env, argv[3]);
  if (!(from <= normal_end && normal_end <= limit_end && limit_end <= length)) {
    napi_throw_range_error(env, NULL, "gearCut: positions out of order or beyond the bytes");
    return NULL;
  }
  size_t cut = gear_cut_between(data, from, normal_end, limit_end, u32(env, argv[4]), u32(env, argv[5]), gear_data);
  napi_value result;
  napi_create_double(env, cut ? (double)cut : -1, &result);
  return result;
}
