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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "addon.h"

const napi_type_tag LANE_TAG = {0x6c1f0b6a9e3d4c21ULL, 0x8b5e7a2f1d0c9e43ULL};
const napi_type_tag HASH_TAG = {0x3a7d2e91c4b05f68ULL, 0x9f14c8e2a76b3d05ULL};

int typed_array_data(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *count) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, value, &type, count, data, &buffer, &offset) == napi_ok && type == want;
}

void *external_arg(napi_env env, napi_value value, const napi_type_tag *tag) {
  void *data = NULL;
  napi_valuetype type;
  bool tagged = false;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

napi_value tagged_external(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, int *adopted) {
  napi_value external;
  *adopted = 0;
  if (napi_create_external(env, data, finalize, NULL, &external) != napi_ok) return NULL;
  *adopted = 1; /* from here on the finalizer frees data, when the external is collected */
  if (napi_type_tag_object(env, external, tag) != napi_ok) return NULL;
  return external;
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

/* The call's first `want` arguments into argv; 0, with a TypeError saying `usage` thrown, when
 * fewer were given. */
static int args_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/* A Buffer argument's bytes, not copied; 0, with a TypeError thrown, when it is no Buffer. */
static int bytes_arg(napi_env env, napi_value v, void **data, size_t *len, const char *usage) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, v, data, len) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/* A Buffer argument (a path or a name) as a NUL-terminated copy, which the caller frees; NULL, with
 * an error thrown, when it is no Buffer, holds a NUL (C would read a shorter, other name), or
 * memory runs out. */
static char *cstring_arg(napi_env env, napi_value v, const char *usage) {
  void *data;
  size_t len;
  if (!bytes_arg(env, v, &data, &len, usage)) return NULL;
  if (memchr(data, 0, len)) {
    napi_throw_type_error(env, NULL, "a path or name must not hold a NUL byte");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  memcpy(s, data, len);
  s[len] = 0;
  return s;
}

/* A whole-number argument within [min, max]; 0, with a TypeError thrown, otherwise. */
static int int_arg(napi_env env, napi_value v, int64_t min, int64_t max, int64_t *out, const char *usage) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

/* A new Buffer holding a copy of `len` bytes; NULL, with an error thrown, when it cannot be made. */
static napi_value buffer_copy(napi_env env, const void *data, size_t len) {
  napi_value result;
  void *copy;
  if (napi_create_buffer_copy(env, len, data, &copy, &result) != napi_ok) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  return result;
}

/* Times as utimensat takes them from (atime s, atime ns, mtime s, mtime ns) arguments. */
static int times_arg(napi_env env, const napi_value *argv, struct timespec ts[2], const char *usage) {
  int64_t v[4];
  for (int i = 0; i < 4; i++) {
    int64_t bound = i % 2 ? 999999999 : INT64_C(1) << 53;
    if (!int_arg(env, argv[i], i % 2 ? 0 : -bound, bound, &v[i], usage)) return 0;
  }
  ts[0].tv_sec = (time_t)v[0], ts[0].tv_nsec = (long)v[1];
  ts[1].tv_sec = (time_t)v[2], ts[1].tv_nsec = (long)v[3];
  return 1;
}

/* Growing reads of a list or value whose size can change between asking and reading (ERANGE). */
static ssize_t read_growing(char **out, ssize_t (*fetch)(const char *, const char *, char *, size_t), const char *path, const char *name) {
  ssize_t size = fetch(path, name, NULL, 0);
  for (int tries = 0; size >= 0 && tries < 16; tries++) {
    char *grown = realloc(*out, size ? (size_t)size : 1);
    if (!grown) { errno = ENOMEM; return -1; }
    *out = grown;
    ssize_t got = fetch(path, name, *out, (size_t)size);
    if (got >= 0) return got;
    if (errno != ERANGE) return -1;
    size = fetch(path, name, NULL, 0);
  }
  if (size >= 0) errno = ERANGE;
  return -1;
}

static ssize_t list_names(const char *path, const char *name, char *into, size_t size) {
  (void)name;
  return llistxattr(path, into, size);
}

static ssize_t get_value(const char *path, const char *name, char *into, size_t size) {
  return lgetxattr(path, name, into, size);
}

/* listXattrs(path) -> the names of the entry's extended attributes (never through a link). */
static napi_value list_xattrs(napi_env env, napi_callback_info info) {
  static const char usage[] = "listXattrs(path: Buffer)";
  napi_value argv[1];
  if (!args_of(env, info, 1, argv, usage)) return NULL;
  char *path = cstring_arg(env, argv[0], usage);
  if (!path) return NULL;
  char *names = NULL;
  ssize_t size = read_growing(&names, list_names, path, NULL);
  int err = errno;
  free(path);
  napi_value result;
  if (size < 0 && err != ENOTSUP) { free(names); return throw_errno(env, err, "llistxattr"); }
  if (napi_create_array(env, &result) != napi_ok) { free(names); napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  uint32_t n = 0;
  for (ssize_t i = 0; i < size;) {
    size_t len = strnlen(names + i, (size_t)(size - i));
    napi_value name = buffer_copy(env, names + i, len);
    if (!name || napi_set_element(env, result, n++, name) != napi_ok) { free(names); return NULL; }
    i += (ssize_t)len + 1;
  }
  free(names);
  return result;
}

/* getXattr(path, name) -> the attribute's value. */
static napi_value get_xattr(napi_env env, napi_callback_info info) {
  static const char usage[] = "getXattr(path: Buffer, name: Buffer)";
  napi_value argv[2];
  if (!args_of(env, info, 2, argv, usage)) return NULL;
  char *path = cstring_arg(env, argv[0], usage);
  if (!path) return NULL;
  char *name = cstring_arg(env, argv[1], usage);
  if (!name) { free(path); return NULL; }
  char *value = NULL;
  ssize_t size = read_growing(&value, get_value, path, name);
  int err = errno;
  free(path);
  free(name);
  if (size < 0) { free(value); return throw_errno(env, err, "lgetxattr"); }
  napi_value result = buffer_copy(env, value, (size_t)size);
  free(value);
  return result;
}

/* setXattr(path, name, value) */
static napi_value set_xattr(napi_env env, napi_callback_info info) {
  static const char usage[] = "setXattr(path: Buffer, name: Buffer, value: Buffer)";
  napi_value argv[3];
  void *value;
  size_t len;
  if (!args_of(env, info, 3, argv, usage) || !bytes_arg(env, argv[2], &value, &len, usage)) return NULL;
  char *path = cstring_arg(env, argv[0], usage);
  if (!path) return NULL;
  char *name = cstring_arg(env, argv[1], usage);
  if (!name) { free(path); return NULL; }
  int rc = lsetxattr(path, name, value, len, 0);
  int err = errno;
  free(path);
  free(name);
  if (rc != 0) return throw_errno(env, err, "lsetxattr");
  return NULL;
}

/* utimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): sets times on the entry itself (no follow). */
static napi_value utimens(napi_env env, napi_callback_info info) {
  static const char usage[] = "utimens(path: Buffer, atimeSec, atimeNsec (0-999999999), mtimeSec, mtimeNsec)";
  napi_value argv[5];
  struct timespec ts[2];
  if (!args_of(env, info, 5, argv, usage) || !times_arg(env, argv + 1, ts, usage)) return NULL;
  char *path = cstring_arg(env, argv[0], usage);
  if (!path) return NULL;
  int rc = utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  free(path);
  if (rc != 0) return throw_errno(env, err, "utimensat");
  return NULL;
}

/* futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec): times of an open file, no path lookup. */
static napi_value do_futimens(napi_env env, napi_callback_info info) {
  static const char usage[] = "futimens(fd, atimeSec, atimeNsec (0-999999999), mtimeSec, mtimeNsec)";
  napi_value argv[5];
  struct timespec ts[2];
  int64_t fd;
  if (!args_of(env, info, 5, argv, usage) || !int_arg(env, argv[0], 0, INT32_MAX, &fd, usage) || !times_arg(env, argv + 1, ts, usage)) return NULL;
  if (futimens((int)fd, ts) != 0) return throw_errno(env, errno, "futimens");
  return NULL;
}

/* fsetxattr(fd, name, value) */
static napi_value do_fsetxattr(napi_env env, napi_callback_info info) {
  static const char usage[] = "fsetxattr(fd, name: Buffer, value: Buffer)";
  napi_value argv[3];
  int64_t fd;
  void *value;
  size_t len;
  if (!args_of(env, info, 3, argv, usage) || !int_arg(env, argv[0], 0, INT32_MAX, &fd, usage) || !bytes_arg(env, argv[2], &value, &len, usage)) return NULL;
  char *name = cstring_arg(env, argv[1], usage);
  if (!name) return NULL;
  int rc = fsetxattr((int)fd, name, value, len, 0);
  int err = errno;
  free(name);
  if (rc != 0) return throw_errno(env, err, "fsetxattr");
  return NULL;
}

/* mknod(path, mode, major, minor): mode includes the file type bits (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK). */
static napi_value do_mknod(napi_env env, napi_callback_info info) {
  static const char usage[] = "mknod(path: Buffer, mode, major, minor), a FIFO, device node or socket";
  napi_value argv[4];
  int64_t mode, major_number, minor_number;
  if (!args_of(env, info, 4, argv, usage) || !int_arg(env, argv[1], 0, 0177777, &mode, usage) ||
      !int_arg(env, argv[2], 0, UINT32_MAX, &major_number, usage) || !int_arg(env, argv[3], 0, UINT32_MAX, &minor_number, usage)) return NULL;
  mode_t type = (mode_t)mode & S_IFMT;
  if (type != S_IFIFO && type != S_IFCHR && type != S_IFBLK && type != S_IFSOCK) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  char *path = cstring_arg(env, argv[0], usage);
  if (!path) return NULL;
  int rc = mknod(path, (mode_t)mode, makedev((unsigned)major_number, (unsigned)minor_number));
  int err = errno;
  free(path);
  if (rc != 0) return throw_errno(env, err, "mknod");
  return NULL;
}

/* devParts(rdev) -> [major, minor] with glibc's encoding. */
static napi_value dev_parts(napi_env env, napi_callback_info info) {
  static const char usage[] = "devParts(rdev)";
  napi_value argv[1], result, a, b;
  int64_t rdev;
  if (!args_of(env, info, 1, argv, usage) || !int_arg(env, argv[0], 0, INT64_C(1) << 53, &rdev, usage)) return NULL;
  dev_t dev = (dev_t)rdev;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_uint32(env, major(dev), &a) != napi_ok ||
      napi_create_uint32(env, minor(dev), &b) != napi_ok || napi_set_element(env, result, 0, a) != napi_ok || napi_set_element(env, result, 1, b) != napi_ok) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
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

/* One layout's numbers as an object: {name: value, ...}; NULL when it cannot be made. */
static napi_value layout_object(napi_env env, const char *const *names, const int *values, size_t count) {
  napi_value object, number;
  if (napi_create_object(env, &object) != napi_ok) return NULL;
  for (size_t i = 0; i < count; i++) {
    if (napi_create_int32(env, values[i], &number) != napi_ok || napi_set_named_property(env, object, names[i], number) != napi_ok) return NULL;
  }
  return object;
}

#define LAYOUT(env, into, key, ...) do { \
    static const char *const names[] = {__VA_ARGS__}; \
    static const int values[] = {key##_VALUES}; \
    napi_value made = layout_object(env, names, values, sizeof names / sizeof names[0]); \
    if (!made || napi_set_named_property(env, into, #key, made) != napi_ok) return 0; \
  } while (0)

#define scan_VALUES STAT_FIELDS, STAT_DEV, STAT_INO, STAT_MODE, STAT_NLINK, STAT_UID, STAT_GID, STAT_RDEV, STAT_SIZE, \
  STAT_BLOCKS, STAT_MTIME_NS, STAT_CTIME_NS, STAT_XATTR_BYTES, STAT_ERRNO
#define chunk_VALUES RUN_RECORDS, RUN_STARTED, RUN_CARRIED, RECORDS_START, RECORD_FIELDS, RECORD_CHUNK, RECORD_DONE, RECORD_FAILED
#define restore_VALUES FILE_FIELDS, PART_FIELDS, XATTR_FIELDS, RESULT_FIELDS, STATUS_FAILED, STATUS_DAMAGED, BLOB_FIELDS
#define verify_VALUES PLACE_FIELDS

/* The record layouts of addon.h, for TypeScript (src/lib/native-addon.ts NativeLayout). */
static int export_layouts(napi_env env, napi_value exports) {
  napi_value layout;
  if (napi_create_object(env, &layout) != napi_ok) return 0;
  LAYOUT(env, layout, scan, "fields", "dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blocks", "mtimeNs", "ctimeNs", "xattrBytes", "errno");
  LAYOUT(env, layout, chunk, "count", "started", "carried", "start", "fields", "chunk", "done", "failed");
  LAYOUT(env, layout, restore, "file", "part", "xattr", "result", "failed", "damaged", "blob");
  LAYOUT(env, layout, verify, "fields");
  return napi_set_named_property(env, exports, "layout", layout) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  stay_loaded();
  if (!export_layouts(env, exports)) {
    napi_throw_error(env, NULL, "lifeboat_native: cannot export the record layouts");
    return NULL;
  }
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
