{
  "targets": [{
    "target_name": "lifeboat_native",
    "sources": ["native/lifeboat_native.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
