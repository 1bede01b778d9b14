{
  "targets": [{
    "target_name": "lifeboat_native",
    "sources": ["native/lifeboat_native.c", "native/scan_dir.c", "native/gear_cut.c", "native/zstd_blob.c", "native/verify_blobs.c", "native/blob_crypto.c", "native/restore_write.c", "native/direct_write.c", "native/chunk_files.c", "native/async_job.c", "native/sha256_stream.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
