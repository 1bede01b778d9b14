/* scanDirectory(path: Buffer): Promise<{ names: Buffer, ends: Uint32Array, stats: BigInt64Array }>
 * Reads a folder and lstats every entry in it on a libuv pool thread, so that the backup walk's
 * main thread neither makes a system call per entry nor builds a Stats object for each: a backup
 * with nothing changed spent a third of its main thread in readdir, lstat and llistxattr.
 * Entries come sorted by name bytes (strcmp order, the order trees store them in). Entry i's name
 * is names[ends[i-1] .. ends[i]) and its STAT_FIELDS numbers start at stats[i * STAT_FIELDS]:
 * dev, ino, mode, nlink, uid, gid, rdev, size, blocks, mtime ns, ctime ns, the size of its xattr
 * name list (0 when it has none or the filesystem has none, -1 when llistxattr failed), and the
 * errno of a failed lstat (0). */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include <node_api.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>



typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  size_t path_len;
  int err;              /* errno of opening or reading the folder itself */
  const char *syscall;
  char *names;          /* NUL-separated, in readdir order */
  size_t names_len, names_cap;
  size_t *starts;       /* offset of each name in names */
  size_t count, cap;
  size_t *order;        /* indexes sorted by name */
  int64_t *stats;
} Scan;

static int by_name(const void *a, const void *b, void *scan) {
  const Scan *s = scan;
  return strcmp(s->names + s->starts[*(const size_t *)a], s->names + s->starts[*(const size_t *)b]);
}

static int add_name(Scan *s, const char *name) {
  size_t len = strlen(name) + 1;
  if (s->names_len + len > s->names_cap) {
    size_t cap = (s->names_cap + len) * 2;
    char *grown = realloc(s->names, cap);
    if (!grown) return ENOMEM;
    s->names = grown; s->names_cap = cap;
  }
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    size_t *grown = realloc(s->starts, cap * sizeof *grown);
    if (!grown) return ENOMEM;
    s->starts = grown; s->cap = cap;
  }
  memcpy(s->names + s->names_len, name, len);
  s->starts[s->count++] = s->names_len;
  s->names_len += len;
  return 0;
}

static void stat_entry(Scan *s, int dirfd, const char *name, char *full, int64_t *out) {
  struct stat st;
  memset(out, 0, STAT_FIELDS * sizeof *out);
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) { out[STAT_ERRNO] = errno; return; }
  out[STAT_DEV] = (int64_t)st.st_dev; out[STAT_INO] = (int64_t)st.st_ino; out[STAT_MODE] = st.st_mode;
  out[STAT_NLINK] = (int64_t)st.st_nlink; out[STAT_UID] = st.st_uid; out[STAT_GID] = st.st_gid;
  out[STAT_RDEV] = (int64_t)st.st_rdev; out[STAT_SIZE] = st.st_size; out[STAT_BLOCKS] = st.st_blocks;
  out[STAT_MTIME_NS] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  out[STAT_CTIME_NS] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  /* There is no llistxattrat: the path is the folder's plus the name. */
  size_t len = strlen(name);
  memcpy(full + s->path_len + 1, name, len + 1);
  ssize_t xattrs = llistxattr(full, NULL, 0);
  /* -1 when it cannot be told: the walk then asks itself, and reports why it failed. */
  out[STAT_XATTR_BYTES] = xattrs >= 0 ? xattrs : errno == ENOTSUP ? 0 : -1;
}

static void execute(napi_env env, void *data) {
  (void)env;
  Scan *s = data;
  pool_thread_batch();
  /* Never through a symlink: the walk found a folder here, and a folder swapped for a link since
   * must not take the backup elsewhere. */
  int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  if (!dir) { s->err = errno; s->syscall = "opendir"; if (fd >= 0) close(fd); return; }
  struct dirent *entry;
  for (;;) {
    errno = 0;
    if (!(entry = readdir(dir))) {
      if (errno) { s->err = errno; s->syscall = "readdir"; }
      break;
    }
    const char *n = entry->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    if ((s->err = add_name(s, n))) { s->syscall = "readdir"; break; }
  }
  if (!s->err) {
    s->order = malloc((s->count ? s->count : 1) * sizeof *s->order);
    s->stats = malloc((s->count ? s->count : 1) * STAT_FIELDS * sizeof *s->stats);
    char *full = malloc(s->path_len + 1 + 256 + 1);
    if (!s->order || !s->stats || !full) { s->err = ENOMEM; s->syscall = "malloc"; }
    else {
      for (size_t i = 0; i < s->count; i++) s->order[i] = i;
      qsort_r(s->order, s->count, sizeof *s->order, by_name, s);
      memcpy(full, s->path, s->path_len);
      full[s->path_len] = '/';
      for (size_t i = 0; i < s->count; i++) stat_entry(s, dirfd(dir), s->names + s->starts[s->order[i]], full, s->stats + i * STAT_FIELDS);
    }
    free(full);
  }
  closedir(dir);
}

static void free_scan(Scan *s) {
  free(s->path); free(s->names); free(s->starts); free(s->order); free(s->stats); free(s);
}

static void complete(napi_env env, napi_status status, void *data) {
  Scan *s = data;
  if (status != napi_ok || s->err) {
    char syscall[300];
    snprintf(syscall, sizeof syscall, "%s '%.256s'", s->syscall ? s->syscall : "scandir", s->path);
    napi_reject_deferred(env, s->deferred, errno_error(env, s->err ? s->err : EIO, syscall));
  } else {
    napi_value result, names, ends, ends_buffer, stats, stats_buffer;
    void *names_data, *ends_data, *stats_data;
    size_t total = 0;
    for (size_t i = 0; i < s->count; i++) total += strlen(s->names + s->starts[s->order[i]]);
    napi_create_buffer(env, total, &names_data, &names);
    napi_create_arraybuffer(env, s->count * sizeof(uint32_t), &ends_data, &ends_buffer);
    napi_create_arraybuffer(env, s->count * STAT_FIELDS * sizeof(int64_t), &stats_data, &stats_buffer);
    size_t at = 0;
    for (size_t i = 0; i < s->count; i++) {
      const char *name = s->names + s->starts[s->order[i]];
      size_t len = strlen(name);
      memcpy((char *)names_data + at, name, len);
      at += len;
      ((uint32_t *)ends_data)[i] = (uint32_t)at;
    }
    if (s->count) memcpy(stats_data, s->stats, s->count * STAT_FIELDS * sizeof(int64_t));
    napi_create_typedarray(env, napi_uint32_array, s->count, ends_buffer, 0, &ends);
    napi_create_typedarray(env, napi_bigint64_array, s->count * STAT_FIELDS, stats_buffer, 0, &stats);
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "names", names);
    napi_set_named_property(env, result, "ends", ends);
    napi_set_named_property(env, result, "stats", stats);
    napi_resolve_deferred(env, s->deferred, result);
  }
  napi_delete_async_work(env, s->work);
  free_scan(s);
}

napi_value scan_directory(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data; size_t len;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return NULL;
  }
  Scan *s = calloc(1, sizeof *s);
  if (!s || !(s->path = malloc(len + 1))) { free(s); napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  memcpy(s->path, data, len); s->path[len] = 0; s->path_len = len;
  napi_value promise, name;
  napi_create_promise(env, &s->deferred, &promise);
  napi_create_string_utf8(env, "lifeboat:scanDirectory", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, s, &s->work);
  napi_queue_async_work(env, s->work);
  return promise;
}
