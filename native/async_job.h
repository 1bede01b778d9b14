/* An asynchronous Node-API call: its work runs on libuv's thread pool, then a promise settles on
 * the main thread. Its typed arrays stay referenced until it is done, so the thread may use their
 * memory. A job's struct starts with an AsyncJob (restore_write.c, chunk_files.c, verify_blobs.c). */
#ifndef LIFEBOAT_ASYNC_JOB_H
#define LIFEBOAT_ASYNC_JOB_H
#include <node_api.h>

typedef struct AsyncJob AsyncJob;
struct AsyncJob {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[8];
  int ref_count;
  /* on a thread of the pool */
  void (*run)(AsyncJob *job);
  /* on the main thread, once run is done: resolves or rejects the promise */
  void (*settle)(napi_env env, AsyncJob *job, napi_deferred deferred);
  /* frees what the job allocated, and the job */
  void (*release)(AsyncJob *job);
};

/* A zeroed job struct of `size` bytes (it starts with an AsyncJob) that will run `run` and settle
 * with `settle`; `release` frees it when done (NULL: free() of the struct alone). NULL, with an
 * ENOMEM error thrown, when there is no memory for it. */
void *job_new(napi_env env, size_t size, void (*run)(AsyncJob *), void (*settle)(napi_env, AsyncJob *, napi_deferred), void (*release)(AsyncJob *));
/* The typed array `value` of the type wanted (its memory and element count), referenced until the
 * job is done; 0 when it is not one. */
int job_hold(napi_env env, AsyncJob *job, napi_value value, napi_typedarray_type type, void **data, size_t *count);
/* Any value, referenced until the job is done (0 when no room is left). */
int job_keep(napi_env env, AsyncJob *job, napi_value value);
/* The value job_keep or job_hold referenced as the i-th. */
napi_value job_kept(napi_env env, AsyncJob *job, int i);
/* Queues the job: its promise, or NULL with an error thrown (and the job released). */
napi_value job_start(napi_env env, AsyncJob *job, const char *name);
/* Releases a job that will not start, and throws a TypeError with its usage. */
napi_value job_refuse(napi_env env, AsyncJob *job, const char *usage);
/* Sets the calling pool thread to SCHED_BATCH, once (async_job.c says why). Jobs started by
 * job_start call it before they run; work queued another way (scan_dir.c) calls it itself. */
void pool_thread_batch(void);

#endif
