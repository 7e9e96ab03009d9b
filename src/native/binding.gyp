{
  "targets": [
    {
      "target_name": "lispwg_native",
      "sources": ["native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
