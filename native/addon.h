/* What the addon's files share: argument helpers, the type tags of the handles it gives out, and
 * the layouts of the records it exchanges with TypeScript. lifeboat_native.c exports every layout
 * below as `layout` (src/lib/native-addon.ts NativeLayout), so TypeScript reads these numbers
 * from here instead of repeating them. */
#ifndef LIFEBOAT_ADDON_H
#define LIFEBOAT_ADDON_H
#include <node_api.h>
#include <stddef.h>

/* scanDirectory (scan_dir.c): STAT_FIELDS int64 numbers per entry, in this order. */
enum {
  STAT_DEV, STAT_INO, STAT_MODE, STAT_NLINK, STAT_UID, STAT_GID, STAT_RDEV, STAT_SIZE, STAT_BLOCKS,
  STAT_MTIME_NS, STAT_CTIME_NS, STAT_XATTR_BYTES, STAT_ERRNO, STAT_FIELDS
};

/* chunkLaneRun (chunk_files.c): a header of RECORDS_START numbers (records, paths started, whether
 * a file is carried on), then RECORD_FIELDS numbers per record of one of the RECORD_* kinds. */
enum { RUN_RECORDS, RUN_STARTED, RUN_CARRIED, RECORDS_START = 4 };
enum { RECORD_FIELDS = 10 };
enum { RECORD_CHUNK = 1, RECORD_DONE = 2, RECORD_FAILED = 3 };

/* restoreWriteFiles (restore_write.c): FILE_FIELDS numbers per file in meta, then PART_FIELDS per
 * content part and XATTR_FIELDS per attribute; RESULT_FIELDS numbers per file back, the first a
 * STATUS_*. restoreWriteRun: BLOB_FIELDS numbers per blob, then its positions. */
enum { FILE_FIELDS = 9, PART_FIELDS = 5, XATTR_FIELDS = 2, RESULT_FIELDS = 4, BLOB_FIELDS = 6 };
enum { STATUS_WRITTEN = 0, STATUS_FAILED = 1, STATUS_DAMAGED = 2 };

/* verifyBlobs, packVerifyFile (verify_blobs.c): PLACE_FIELDS numbers per blob (offset, stored
 * length, compression, raw length). */
enum { PLACE_FIELDS = 4 };

/* Handles given to JavaScript as externals, each tagged with its kind: one of another kind (or a
 * plain object) passed where this kind is expected is refused, never taken for it. */
extern const napi_type_tag LANE_TAG;  /* chunk_files.c's Lane */
extern const napi_type_tag HASH_TAG;  /* sha256_stream.c's Hash */

/* The typed array's memory and element count when it is of the type wanted; 0 otherwise (the
 * caller throws, with the signature it expects). */
int typed_array_data(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *count);
/* An external of this addon's with the tag given, made by tagged_external; NULL otherwise. */
void *external_arg(napi_env env, napi_value value, const napi_type_tag *tag);
/* An external wrapping `data`, tagged; NULL (nothing thrown) when it cannot be made, and then
 * *adopted says whether data already belongs to the external's finalizer (else to the caller). */
napi_value tagged_external(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, int *adopted);
/* An Error for errno `err` from `syscall`, with code and errno set as node:fs sets them. */
napi_value errno_error(napi_env env, int err, const char *syscall);

#endif
