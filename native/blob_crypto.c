/* blobMac(key, data): Buffer[32], blobSeal(key, nonce, plain, aad): Buffer, blobOpen(key, nonce, sealed, aad): Buffer | undefined
 * and, for the addon's other C files, hmac_sha256_new, hmac_sha256_of and blob_decrypt.
 * HMAC-SHA256 and AES-256-GCM for one blob, with Node's own OpenSSL and one context of each kept
 * per thread, its key set up again only when it changes (a pack's key serves all its blobs).
 * node:crypto makes an Hmac or a Cipher object for every blob, with its key schedule, a native
 * handle to free and buffers to join: 10-15 µs each for a 4 KiB blob, 20-30 µs a blob in all,
 * where the work is a few. blobSeal returns the ciphertext with the 16-byte tag after it, as
 * src/repo/crypto.ts seals; blobOpen returns undefined when the data does not authenticate. */
#include "addon.h"
#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32
#define TAG_BYTES 16
#define NONCE_BYTES 12
#define ID_BYTES 32
#define NONCE_BLOB 0

typedef struct {
  EVP_MAC_CTX *mac;
  unsigned char mac_key[KEY_BYTES];
  EVP_CIPHER_CTX *seal, *open;
  unsigned char seal_key[KEY_BYTES], open_key[KEY_BYTES];
  int mac_ready, seal_ready, open_ready;
} CryptoState;

static pthread_key_t state_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;

static void free_state(void *p) {
  CryptoState *s = p;
  EVP_MAC_CTX_free(s->mac);
  EVP_CIPHER_CTX_free(s->seal);
  EVP_CIPHER_CTX_free(s->open);
  OPENSSL_cleanse(s, sizeof *s);
  free(s);
}

static void setup(void) {
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  pthread_key_create(&state_key, free_state);
}

static CryptoState *state(void) {
  pthread_once(&once, setup);
  CryptoState *s = pthread_getspecific(state_key);
  if (s) return s;
  if (!hmac || !(s = calloc(1, sizeof *s))) return NULL;
  s->mac = EVP_MAC_CTX_new(hmac);
  s->seal = EVP_CIPHER_CTX_new();
  s->open = EVP_CIPHER_CTX_new();
  if (!s->mac || !s->seal || !s->open) { free_state(s); return NULL; }
  pthread_setspecific(state_key, s);
  return s;
}


/* Keys `mac`, an HMAC context, for HMAC-SHA256 with `key`: 1, or 0. */
static int hmac_sha256_key(EVP_MAC_CTX *mac, const unsigned char *key, size_t key_len) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  return EVP_MAC_init(mac, key, key_len, params) == 1;
}

/* A new HMAC-SHA256 context keyed with `key` (to free with EVP_MAC_CTX_free), or NULL. */
EVP_MAC_CTX *hmac_sha256_new(const unsigned char *key, size_t key_len) {
  pthread_once(&once, setup);
  EVP_MAC_CTX *mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  if (mac && !hmac_sha256_key(mac, key, key_len)) {
    EVP_MAC_CTX_free(mac);
    mac = NULL;
  }
  return mac;
}

/* The MAC of `data` under the context's key, into out[32]: 1, or 0. */
int hmac_sha256_of(EVP_MAC_CTX *mac, const void *data, size_t len, unsigned char *out) {
  size_t out_len = 0;
  return EVP_MAC_init(mac, NULL, 0, NULL) == 1 && EVP_MAC_update(mac, data, len) == 1 && EVP_MAC_final(mac, out, &out_len, 32) == 1 && out_len == 32;
}

/* Decrypts one sealed blob of a pack (ciphertext, then the 16-byte tag) with `cipher`, keyed with
 * the pack's key for AES-256-GCM: the nonce is NONCE_BLOB and the blob's offset in the pack, the
 * associated data its id, as src/repo/pack.ts seals. The plaintext goes to `plain`, which may be
 * `sealed` itself; its length, or -1 when the blob does not authenticate. */
int64_t blob_decrypt(EVP_CIPHER_CTX *cipher, const unsigned char *id, uint64_t offset, const unsigned char *sealed, size_t stored, unsigned char *plain) {
  if (stored < TAG_BYTES) return -1;
  size_t body = stored - TAG_BYTES;
  unsigned char nonce[NONCE_BYTES] = {NONCE_BLOB};
  for (int i = 0; i < 8; i++) nonce[4 + i] = (unsigned char)(offset >> (56 - 8 * i));
  int len = 0, tail = 0;
  if (EVP_DecryptInit_ex(cipher, NULL, NULL, NULL, nonce) != 1 || EVP_DecryptUpdate(cipher, NULL, &len, id, ID_BYTES) != 1 ||
      EVP_DecryptUpdate(cipher, plain, &len, sealed, (int)body) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)(sealed + body)) != 1 || EVP_DecryptFinal_ex(cipher, plain + len, &tail) != 1)
    return -1;
  return (int64_t)len + tail;
}

static int bytes_arg(napi_env env, napi_value value, unsigned char **data, size_t *len) {
  return typed_array_data(env, value, napi_uint8_array, (void **)data, len);
}

/* The first four arguments of blobSeal and blobOpen: key[32], nonce[12], data, aad. */
static int crypt_args(napi_env env, size_t argc, napi_value *argv, unsigned char **key, unsigned char **nonce, unsigned char **data, size_t *len,
                      unsigned char **aad, size_t *aad_len) {
  size_t key_len, nonce_len;
  if (argc < 4 || !bytes_arg(env, argv[0], key, &key_len) || !bytes_arg(env, argv[1], nonce, &nonce_len) || !bytes_arg(env, argv[2], data, len) ||
      !bytes_arg(env, argv[3], aad, aad_len) || key_len != KEY_BYTES || nonce_len != NONCE_BYTES || *len > 0x7fffffff) {
    napi_throw_type_error(env, NULL, "expected (key[32], nonce[12], data, aad) as Uint8Arrays");
    return 0;
  }
  return 1;
}

napi_value blob_mac(napi_env env, napi_callback_info info) {
  size_t argc = 2, key_len, len; napi_value argv[2];
  unsigned char *key, *data;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !bytes_arg(env, argv[0], &key, &key_len) || !bytes_arg(env, argv[1], &data, &len) || key_len != KEY_BYTES) {
    napi_throw_type_error(env, NULL, "expected (key[32], data) as Uint8Arrays");
    return NULL;
  }
  CryptoState *s = state();
  if (!s) { napi_throw_error(env, NULL, "HMAC is not available"); return NULL; }
  int ok;
  if (s->mac_ready && memcmp(s->mac_key, key, KEY_BYTES) == 0) ok = EVP_MAC_init(s->mac, NULL, 0, NULL);
  else {
    ok = hmac_sha256_key(s->mac, key, KEY_BYTES);
    memcpy(s->mac_key, key, KEY_BYTES);
    s->mac_ready = ok == 1;
  }
  napi_value result;
  unsigned char *out;
  size_t out_len = 0;
  if (napi_create_buffer(env, 32, (void **)&out, &result) != napi_ok) return NULL;
  if (ok != 1 || EVP_MAC_update(s->mac, data, len) != 1 || EVP_MAC_final(s->mac, out, &out_len, 32) != 1 || out_len != 32) {
    s->mac_ready = 0;
    napi_throw_error(env, NULL, "HMAC-SHA256 failed");
    return NULL;
  }
  return result;
}

/* blobSeal(key, nonce, plain, aad, into, at): sealed into `into` from byte `at` (the pack being
 * built), ciphertext then tag; returns the length written. */
napi_value blob_seal(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *key, *nonce, *plain, *aad, *into;
  size_t len, aad_len, into_len;
  double at;
  if (!crypt_args(env, argc, argv, &key, &nonce, &plain, &len, &aad, &aad_len)) return NULL;
  if (argc < 6 || !bytes_arg(env, argv[4], &into, &into_len) || napi_get_value_double(env, argv[5], &at) != napi_ok || !(at >= 0) || at + len + TAG_BYTES > into_len) {
    napi_throw_range_error(env, NULL, "blobSeal: no room for the sealed blob at that offset");
    return NULL;
  }
  CryptoState *s = state();
  if (!s) { napi_throw_error(env, NULL, "AES-256-GCM is not available"); return NULL; }
  int same = s->seal_ready && memcmp(s->seal_key, key, KEY_BYTES) == 0;
  unsigned char *out = into + (size_t)at;
  int n = 0, tail = 0;
  s->seal_ready = 0;
  if ((!same && EVP_EncryptInit_ex(s->seal, EVP_aes_256_gcm(), NULL, key, NULL) != 1) || EVP_EncryptInit_ex(s->seal, NULL, NULL, NULL, nonce) != 1 ||
      (aad_len && EVP_EncryptUpdate(s->seal, NULL, &n, aad, (int)aad_len) != 1) || EVP_EncryptUpdate(s->seal, out, &n, plain, (int)len) != 1 ||
      EVP_EncryptFinal_ex(s->seal, out + n, &tail) != 1 || EVP_CIPHER_CTX_ctrl(s->seal, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + len) != 1) {
    napi_throw_error(env, NULL, "AES-256-GCM sealing failed");
    return NULL;
  }
  memcpy(s->seal_key, key, KEY_BYTES);
  s->seal_ready = 1;
  napi_value result;
  napi_create_uint32(env, (uint32_t)(len + TAG_BYTES), &result);
  return result;
}

napi_value blob_open(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *key, *nonce, *sealed, *aad;
  size_t len, aad_len;
  if (!crypt_args(env, argc, argv, &key, &nonce, &sealed, &len, &aad, &aad_len)) return NULL;
  napi_value result, undefined;
  napi_get_undefined(env, &undefined);
  if (len < TAG_BYTES) return undefined;
  CryptoState *s = state();
  if (!s) { napi_throw_error(env, NULL, "AES-256-GCM is not available"); return NULL; }
  int same = s->open_ready && memcmp(s->open_key, key, KEY_BYTES) == 0;
  size_t body = len - TAG_BYTES;
  unsigned char *out;
  int n = 0, tail = 0;
  if (napi_create_buffer(env, body, (void **)&out, &result) != napi_ok) return NULL;
  s->open_ready = 0;
  if ((!same && EVP_DecryptInit_ex(s->open, EVP_aes_256_gcm(), NULL, key, NULL) != 1) || EVP_DecryptInit_ex(s->open, NULL, NULL, NULL, nonce) != 1) {
    napi_throw_error(env, NULL, "AES-256-GCM could not start");
    return NULL;
  }
  memcpy(s->open_key, key, KEY_BYTES);
  s->open_ready = 1;
  if ((aad_len && EVP_DecryptUpdate(s->open, NULL, &n, aad, (int)aad_len) != 1) || EVP_DecryptUpdate(s->open, out, &n, sealed, (int)body) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->open, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, sealed + body) != 1 || EVP_DecryptFinal_ex(s->open, out + n, &tail) != 1)
    return undefined;
  return result;
}
