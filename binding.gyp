{
  # Built offline by scripts/build-native.mjs with --nodedir=<node prefix> (no header download).
  # The addon mixes node-addon-api with a few V8 calls (SharedArrayBuffer over mmap'd memory),
  # so it is tied to the Node major it was built against, like any V8-API addon.
  "targets": [
    {
      "target_name": "epdma_native",
      "sources": ["src/native/epdma_native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O3", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-O3", "-O0"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-fexceptions"],
      # nodelete: worker threads may still hold SharedArrayBuffers whose deleter (munmap) lives in
      # this .so after the loading environment is gone; the library must never be dlclose'd.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
