/* lifeboat_native: the few POSIX calls Node.js does not expose and a backup tool needs.
 * - extended attributes on the entry itself (l*xattr, never following symlinks; POSIX ACLs live here)
 * - utimensat with nanosecond precision (fs.utimes goes through a double and loses nanoseconds)
 * - mknod for FIFOs and device nodes
 * - scanDirectory (scan_dir.c): a folder's names and lstat results in one call off the main thread
 * - gearCut (gear_cut.c): the chunker's inner loop
 * - zstdCompress, zstdDecompress (zstd_blob.c): one blob, with contexts kept per thread
 * - verifyBlobs, packVerifyFile, packHash (verify_blobs.c): check --read-data's work on one pack, on libuv's thread pool
 * - blobMac, blobSeal, blobOpen (blob_crypto.c): one blob's HMAC and AES-256-GCM, contexts kept per thread
 * - chunkLaneCreate, chunkLaneRun, chunkLaneClose (chunk_files.c): a backup's reading and chunking of files, on libuv's thread pool
 * - restoreWriteFiles, restoreWriteRun (restore_write.c): restore's decoding and writing, on libuv's thread pool
 * - writeAt, alignedBuffer (direct_write.c): a write past the page cache where it can, on libuv's thread pool
 * - releaseFreeMemory: malloc_trim, after a burst of short-lived buffers (loading the index)
 * Node-API only, so one build works on every Node.js version. Paths and names are Buffers (raw bytes). */
#define _GNU_SOURCE
#include <node_api.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

/* A typed array's bytes and element count, when it is of the type wanted; 0 otherwise (the
 * caller throws, with the signature it expects). */
int typed_array_data(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *count) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, value, &type, count, data, &buffer, &offset) == napi_ok && type == want;
}

/* The pointer an external made by this addon wraps (a chunking lane, a SHA-256 context); NULL when
 * the value is no external (the caller throws). */
void *external_arg(napi_env env, napi_value value) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

napi_value errno_error(napi_env env, int err, const char *syscall) {
  char code[32];
  const char *name = err == ENOTSUP ? "ENOTSUP" : err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES"
    : err == EPERM ? "EPERM" : err == ENOSPC ? "ENOSPC" : err == ENODATA ? "ENODATA" : err == E2BIG ? "E2BIG"
    : err == ERANGE ? "ERANGE" : err == EEXIST ? "EEXIST" : err == EDQUOT ? "EDQUOT" : err == ENOTDIR ? "ENOTDIR"
    : err == ELOOP ? "ELOOP" : err == EIO ? "EIO" : err == ENAMETOOLONG ? "ENAMETOOLONG" : err == EMFILE ? "EMFILE" : NULL;
  if (name) snprintf(code, sizeof code, "%s", name); else snprintf(code, sizeof code, "E%d", err);
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(err), syscall);
  napi_value ecode, emsg, error, errnoval;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &ecode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &emsg);
  napi_create_error(env, ecode, emsg, &error);
  napi_create_int32(env, -err, &errnoval);
  napi_set_named_property(env, error, "errno", errnoval);
  napi_set_named_property(env, error, "code", ecode);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_throw(env, errno_error(env, err, syscall));
  return NULL;
}

napi_value scan_directory(napi_env env, napi_callback_info info); /* scan_dir.c */
napi_value gear_cut(napi_env env, napi_callback_info info); /* gear_cut.c */
napi_value zstd_available(napi_env env, napi_callback_info info); /* zstd_blob.c */
napi_value chunk_lane_create(napi_env env, napi_callback_info info); /* chunk_files.c */
napi_value chunk_lane_run(napi_env env, napi_callback_info info); /* chunk_files.c */
napi_value chunk_lane_close(napi_env env, napi_callback_info info); /* chunk_files.c */
napi_value restore_write_files(napi_env env, napi_callback_info info); /* restore_write.c */
napi_value restore_write_run(napi_env env, napi_callback_info info); /* restore_write.c */
napi_value write_at(napi_env env, napi_callback_info info); /* direct_write.c */
napi_value aligned_buffer(napi_env env, napi_callback_info info); /* direct_write.c */
napi_value sha256_create(napi_env env, napi_callback_info info); /* sha256_stream.c */
napi_value sha256_update(napi_env env, napi_callback_info info);
napi_value sha256_digest(napi_env env, napi_callback_info info);
napi_value zstd_compress(napi_env env, napi_callback_info info);
napi_value zstd_decompress(napi_env env, napi_callback_info info);
napi_value verify_blobs(napi_env env, napi_callback_info info); /* verify_blobs.c */
napi_value pack_verify_file(napi_env env, napi_callback_info info); /* verify_blobs.c */
napi_value pack_hash(napi_env env, napi_callback_info info); /* verify_blobs.c */
napi_value blob_mac(napi_env env, napi_callback_info info); /* blob_crypto.c */
napi_value blob_seal(napi_env env, napi_callback_info info);
napi_value blob_open(napi_env env, napi_callback_info info);

/* Copies a Buffer argument into a NUL-terminated C string; caller frees. */
static char *buffer_arg(napi_env env, napi_value v, size_t *len_out) {
  void *data; size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return NULL;
  }
  char *s = malloc(len + 1);
  memcpy(s, data, len); s[len] = 0;
  if (len_out) *len_out = len;
  return s;
}

static napi_value list_xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = buffer_arg(env, argv[0], NULL);
  if (!path) return NULL;
  ssize_t size = llistxattr(path, NULL, 0);
  char *names = NULL;
  while (size > 0) {
    names = realloc(names, size);
    ssize_t got = llistxattr(path, names, size);
    if (got >= 0) { size = got; break; }
    if (errno != ERANGE) { size = -1; break; }
    size = llistxattr(path, NULL, 0);
  }
  if (size < 0) {
    int err = errno; free(path); free(names);
    if (err == ENOTSUP) { napi_value empty; napi_create_array(env, &empty); return empty; }
    return throw_errno(env, err, "llistxattr");
  }
  napi_value result; napi_create_array(env, &result);
  uint32_t n = 0;
  for (ssize_t i = 0; i < size;) {
    size_t len = strlen(names + i);
    napi_value name; void *copy;
    napi_create_buffer_copy(env, len, names + i, &copy, &name);
    napi_set_element(env, result, n++, name);
    i += len + 1;
  }
  free(path); free(names);
  return result;
}

static napi_value get_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = buffer_arg(env, argv[0], NULL);
  if (!path) return NULL;
  char *name = buffer_arg(env, argv[1], NULL);
  if (!name) { free(path); return NULL; }
  ssize_t size = lgetxattr(path, name, NULL, 0);
  char *value = NULL;
  while (size >= 0) {
    value = realloc(value, size ? size : 1);
    ssize_t got = lgetxattr(path, name, value, size);
    if (got >= 0) { size = got; break; }
    if (errno != ERANGE) { size = -1; break; }
    size = lgetxattr(path, name, NULL, 0);
  }
  int err = errno;
  free(path); free(name);
  if (size < 0) { free(value); return throw_errno(env, err, "lgetxattr"); }
  napi_value result; void *copy;
  napi_create_buffer_copy(env, size, value, &copy, &result);
  free(value);
  return result;
}

static napi_value set_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = buffer_arg(env, argv[0], NULL);
  if (!path) return NULL;
  char *name = buffer_arg(env, argv[1], NULL);
  if (!name) { free(path); return NULL; }
  void *value; size_t len;
  napi_get_buffer_info(env, argv[2], &value, &len);
  int rc = lsetxattr(path, name, value, len, 0);
  int err = errno;
  free(path); free(name);
  if (rc != 0) return throw_errno(env, err, "lsetxattr");
  return NULL;
}

static int64_t int_arg(napi_env env, napi_value v) {
  int64_t out = 0; napi_get_value_int64(env, v, &out); return out;
}

/* utimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): sets times on the entry itself (no follow). */
static napi_value utimens(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = buffer_arg(env, argv[0], NULL);
  if (!path) return NULL;
  struct timespec ts[2];
  ts[0].tv_sec = int_arg(env, argv[1]); ts[0].tv_nsec = int_arg(env, argv[2]);
  ts[1].tv_sec = int_arg(env, argv[3]); ts[1].tv_nsec = int_arg(env, argv[4]);
  int rc = utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  free(path);
  if (rc != 0) return throw_errno(env, err, "utimensat");
  return NULL;
}

/* futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec): times of an open file, no path lookup. */
static napi_value do_futimens(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct timespec ts[2];
  ts[0].tv_sec = int_arg(env, argv[1]); ts[0].tv_nsec = int_arg(env, argv[2]);
  ts[1].tv_sec = int_arg(env, argv[3]); ts[1].tv_nsec = int_arg(env, argv[4]);
  if (futimens((int)int_arg(env, argv[0]), ts) != 0) return throw_errno(env, errno, "futimens");
  return NULL;
}

/* fsetxattr(fd, name, value) */
static napi_value do_fsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *name = buffer_arg(env, argv[1], NULL);
  if (!name) return NULL;
  void *value; size_t len;
  napi_get_buffer_info(env, argv[2], &value, &len);
  int rc = fsetxattr((int)int_arg(env, argv[0]), name, value, len, 0);
  int err = errno;
  free(name);
  if (rc != 0) return throw_errno(env, err, "fsetxattr");
  return NULL;
}

/* mknod(path, mode, major, minor): mode includes the file type bits (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK). */
static napi_value do_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = buffer_arg(env, argv[0], NULL);
  if (!path) return NULL;
  int rc = mknod(path, (mode_t)int_arg(env, argv[1]),
                 makedev((unsigned)int_arg(env, argv[2]), (unsigned)int_arg(env, argv[3])));
  int err = errno;
  free(path);
  if (rc != 0) return throw_errno(env, err, "mknod");
  return NULL;
}

/* devParts(rdev) -> [major, minor] with glibc's encoding. */
static napi_value dev_parts(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  dev_t dev = (dev_t)int_arg(env, argv[0]);
  napi_value result, a, b;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, major(dev), &a);
  napi_create_uint32(env, minor(dev), &b);
  napi_set_element(env, result, 0, a);
  napi_set_element(env, result, 1, b);
  return result;
}

/* releaseFreeMemory() -> whether glibc's malloc_trim released anything. Loading a big index frees
 * thousands of buffers of 16-300 KiB in between ones that stay; glibc keeps those pages mapped
 * (30 MiB for an index of 1,000,000 blobs) until it is asked to return them. */
static napi_value release_free_memory(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

/* Keeps this library loaded until the process ends. zstd_blob.c and blob_crypto.c give each
 * thread its contexts through pthread keys whose destructors are in this library; Node unloads an
 * addon when the last worker that loaded it ends, and that thread's exit then called a destructor
 * at an address no longer mapped (a segmentation fault when only a worker had used the addon). */
static void stay_loaded(void) {
  Dl_info self;
  if (dladdr((void *)stay_loaded, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static napi_value init(napi_env env, napi_value exports) {
  stay_loaded();
  napi_property_descriptor props[] = {
    {"listXattrs", 0, list_xattrs, 0, 0, 0, napi_default, 0},
    {"getXattr", 0, get_xattr, 0, 0, 0, napi_default, 0},
    {"setXattr", 0, set_xattr, 0, 0, 0, napi_default, 0},
    {"utimens", 0, utimens, 0, 0, 0, napi_default, 0},
    {"mknod", 0, do_mknod, 0, 0, 0, napi_default, 0},
    {"futimens", 0, do_futimens, 0, 0, 0, napi_default, 0},
    {"fsetxattr", 0, do_fsetxattr, 0, 0, 0, napi_default, 0},
    {"devParts", 0, dev_parts, 0, 0, 0, napi_default, 0},
    {"scanDirectory", 0, scan_directory, 0, 0, 0, napi_default, 0},
    {"gearCut", 0, gear_cut, 0, 0, 0, napi_default, 0},
    {"zstdAvailable", 0, zstd_available, 0, 0, 0, napi_default, 0},
    {"zstdCompress", 0, zstd_compress, 0, 0, 0, napi_default, 0},
    {"zstdDecompress", 0, zstd_decompress, 0, 0, 0, napi_default, 0},
    {"verifyBlobs", 0, verify_blobs, 0, 0, 0, napi_default, 0},
    {"packVerifyFile", 0, pack_verify_file, 0, 0, 0, napi_default, 0},
    {"packHash", 0, pack_hash, 0, 0, 0, napi_default, 0},
    {"blobMac", 0, blob_mac, 0, 0, 0, napi_default, 0},
    {"blobSeal", 0, blob_seal, 0, 0, 0, napi_default, 0},
    {"blobOpen", 0, blob_open, 0, 0, 0, napi_default, 0},
    {"chunkLaneCreate", 0, chunk_lane_create, 0, 0, 0, napi_default, 0},
    {"chunkLaneRun", 0, chunk_lane_run, 0, 0, 0, napi_default, 0},
    {"chunkLaneClose", 0, chunk_lane_close, 0, 0, 0, napi_default, 0},
    {"restoreWriteFiles", 0, restore_write_files, 0, 0, 0, napi_default, 0},
    {"restoreWriteRun", 0, restore_write_run, 0, 0, 0, napi_default, 0},
    {"writeAt", 0, write_at, 0, 0, 0, napi_default, 0},
    {"alignedBuffer", 0, aligned_buffer, 0, 0, 0, napi_default, 0},
    {"sha256Create", 0, sha256_create, 0, 0, 0, napi_default, 0},
    {"sha256Update", 0, sha256_update, 0, 0, 0, napi_default, 0},
    {"sha256Digest", 0, sha256_digest, 0, 0, 0, napi_default, 0},
    {"releaseFreeMemory", 0, release_free_memory, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
