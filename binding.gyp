{
  "targets": [{
    "target_name": "lifeboat_native",
    "sources": ["native/lifeboat_native.c", "native/scan_dir.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
