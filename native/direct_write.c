/* writeAt(fd, directFd, data, position): Promise<void>
 * alignedBuffer(bytes): Buffer
 * Writing past the page cache. On this VM each page the page cache takes for a new file costs
 * more than copying into it (the host backs a guest page on its first touch):
 * copy_folio_from_iter_atomic was 41% of a restore's samples and 8% of a full backup's. A write
 * with O_DIRECT takes the bytes from the process's own buffer, which is used again and again.
 * O_DIRECT asks for offsets, lengths and addresses in whole blocks, so write_split sends a range's
 * whole blocks through the O_DIRECT descriptor and the partial blocks at its ends through the
 * page cache; two ranges that meet inside a block both write their part of it there, and the
 * kernel keeps the two kinds of write of one file coherent.
 *
 * writeAt writes data fully at position, on libuv's thread pool (directFd -1: through fd only);
 * it rejects with the errno error of a failed write. alignedBuffer allocates a buffer that starts
 * on a DIRECT_ALIGN boundary, for data that writeAt writes past the page cache (a pack's segments),
 * in huge pages where it can (buffer_alloc). */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include "file_write.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>


/* On this VM a page fault is dear (the host backs each guest page on its first touch), and the
 * big buffers of the restore writers, the chunking lanes and the pack segments took 40% of the
 * page faults of a restore or a full backup of the bench corpus (43,000 and 45,000 in all; 23,000
 * and 28,000 with huge pages). Time in interleaved pairs, six each: restore onto ext4 0.88 and
 * 0.93 (two series), full backup 0.91, with the same peak RSS. The tail of a buffer stays in small
 * pages, so a buffer just over 4 MiB is not rounded up to 6 resident MiB. */
void *buffer_alloc(size_t size) {
  size_t huge = size / HUGE_PAGE * HUGE_PAGE; /* the tail, less than a huge page, stays in small pages */
  void *p;
  if (posix_memalign(&p, huge ? HUGE_PAGE : DIRECT_ALIGN, size ? size : 1) != 0) return NULL;
  if (huge) madvise(p, huge, MADV_HUGEPAGE); /* only advice: without huge pages it still works */
  return p;
}

int write_fully(int fd, const uint8_t *data, size_t len, off_t position) {
  while (len > 0) {
    ssize_t n = position < 0 ? write(fd, data, len) : pwrite(fd, data, len, position);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data += n;
    len -= (size_t)n;
    if (position >= 0) position += n;
  }
  return 0;
}

/* A direct write the filesystem refuses (EINVAL: no O_DIRECT there, or bigger blocks) goes
 * through the page cache instead. */
int write_split(int fd, int direct_fd, const uint8_t *data, size_t len, off_t position) {
  off_t end = position + (off_t)len;
  off_t first = (position + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN, last = end / DIRECT_ALIGN * DIRECT_ALIGN;
  if (direct_fd < 0 || position < 0 || last <= first || (uintptr_t)data % DIRECT_ALIGN != (uint64_t)position % DIRECT_ALIGN)
    return write_fully(fd, data, len, position);
  int err = write_fully(fd, data, (size_t)(first - position), position);
  off_t at = first;
  while (!err && at < last) {
    ssize_t n = pwrite(direct_fd, data + (at - position), (size_t)(last - at), at);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno == EINVAL)) break; /* the rest through the page cache */
    if (n < 0) err = errno;
    else at += n;
  }
  if (!err) err = write_fully(fd, data + (at - position), (size_t)(end - at), at);
  return err;
}

typedef struct {
  AsyncJob base;
  int fd, direct_fd, err;
  const uint8_t *data;
  size_t len;
  int64_t position;
} Job;

static void run(AsyncJob *base) {
  Job *job = (Job *)base;
  job->err = write_split(job->fd, job->direct_fd, job->data, job->len, (off_t)job->position);
}

static void settle(napi_env env, AsyncJob *base, napi_deferred deferred) {
  Job *job = (Job *)base;
  napi_value value;
  if (job->err) {
    napi_reject_deferred(env, deferred, errno_error(env, job->err, "write"));
    return;
  }
  napi_get_undefined(env, &value);
  napi_resolve_deferred(env, deferred, value);
}

napi_value write_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "writeAt(fd, directFd, data: Uint8Array, position)";
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *job = job_new(env, sizeof *job, run, settle, NULL);
  if (!job) return NULL;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &job->fd) != napi_ok || napi_get_value_int32(env, argv[1], &job->direct_fd) != napi_ok ||
      !job_hold(env, &job->base, argv[2], napi_uint8_array, (void **)&job->data, &job->len) ||
      napi_get_value_int64(env, argv[3], &job->position) != napi_ok || job->position < 0)
    return job_refuse(env, &job->base, usage);
  return job_start(env, &job->base, "lifeboat.writeAt");
}

static void free_aligned(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  free(data);
}

napi_value aligned_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int64_t bytes = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int64(env, argv[0], &bytes) != napi_ok || bytes <= 0) {
    napi_throw_type_error(env, NULL, "alignedBuffer(bytes > 0)");
    return NULL;
  }
  void *data = buffer_alloc((size_t)bytes);
  if (!data) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (napi_create_external_buffer(env, (size_t)bytes, data, free_aligned, NULL, &result) != napi_ok) {
    free(data);
    napi_throw_error(env, NULL, "alignedBuffer: cannot make the buffer");
    return NULL;
  }
  return result;
}
