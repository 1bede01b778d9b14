/* The plumbing of the addon's asynchronous calls (async_job.h). */
#define _GNU_SOURCE
#include "addon.h"
#include "async_job.h"
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>


int job_keep(napi_env env, AsyncJob *job, napi_value value) {
  if (job->ref_count == (int)(sizeof job->refs / sizeof job->refs[0])) return 0;
  return napi_create_reference(env, value, 1, &job->refs[job->ref_count++]) == napi_ok;
}

int job_hold(napi_env env, AsyncJob *job, napi_value value, napi_typedarray_type type, void **data, size_t *count) {
  return typed_array_data(env, value, type, data, count) && job_keep(env, job, value);
}

napi_value job_kept(napi_env env, AsyncJob *job, int i) {
  napi_value value = NULL;
  napi_get_reference_value(env, job->refs[i], &value);
  return value;
}

static void unref_all(napi_env env, AsyncJob *job) {
  for (int i = 0; i < job->ref_count; i++) napi_delete_reference(env, job->refs[i]);
  job->ref_count = 0;
}

/* Linux's scheduler lets a woken thread take the core of the thread that woke it when it has run
 * less lately, as a pool thread that slept has. On two cores that was the main thread, which
 * hands out every job and takes in every result: --cpu-prof charged a full backup's main thread
 * 0.39 s in the call that starts a chunking run and 0.21 s in the one that starts a folder scan,
 * and sched_switch events found it runnable without a core for 0.51 s. A SCHED_BATCH thread gets
 * its fair share of the CPU but never preempts on waking. The policy stays with the thread: set
 * for a job and undone after it, the thread would be SCHED_OTHER again when next woken, the
 * moment it counts. Node's own work that later runs on the thread (file system calls) is batch too. */
void pool_thread_batch(void) {
#ifdef SCHED_BATCH
  static __thread int done;
  if (done) return;
  done = 1;
  struct sched_param param = {0};
  sched_setscheduler(0, SCHED_BATCH, &param);
#endif
}

static void run(napi_env env, void *data) {
  (void)env;
  AsyncJob *job = data;
  pool_thread_batch();
  job->run(job);
}

static void done(napi_env env, napi_status status, void *data) {
  AsyncJob *job = data;
  if (status == napi_ok) {
    job->settle(env, job, job->deferred);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "the native call was cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  }
  unref_all(env, job);
  napi_delete_async_work(env, job->work);
  job->release(job);
}

static void free_job(AsyncJob *job) { free(job); }

void *job_new(napi_env env, size_t size, void (*run)(AsyncJob *), void (*settle)(napi_env, AsyncJob *, napi_deferred), void (*release)(AsyncJob *)) {
  AsyncJob *job = calloc(1, size);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  *job = (AsyncJob){.run = run, .settle = settle, .release = release ? release : free_job};
  return job;
}

napi_value job_start(napi_env env, AsyncJob *job, const char *name) {
  napi_value promise, resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    unref_all(env, job);
    job->release(job);
    napi_throw_error(env, NULL, "cannot make a promise for a native call");
    return NULL;
  }
  if (napi_create_async_work(env, NULL, resource, run, done, job, &job->work) != napi_ok || napi_queue_async_work(env, job->work) != napi_ok) {
    /* the promise is left pending: the error thrown here is what the caller sees */
    if (job->work) napi_delete_async_work(env, job->work);
    unref_all(env, job);
    job->release(job);
    napi_throw_error(env, NULL, "cannot queue a native call on the thread pool");
    return NULL;
  }
  return promise;
}

napi_value job_refuse(napi_env env, AsyncJob *job, const char *usage) {
  unref_all(env, job);
  job->release(job);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}
