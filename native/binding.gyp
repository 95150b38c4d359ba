{
  "targets": [
    {
      "target_name": "tracefleet_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/debuginfo_fetch.cc",
        "src/dwarf_struct_offsets.cc",
        "src/elf_file.cc",
        "src/elf_function_offsets.cc",
        "src/event_stream.cc",
        "src/file_cache.cc",
        "src/file_checks_js.cc",
        "src/kernel_symbols.cc",
        "src/libbpf_log.cc",
        "src/memleak_session.cc",
        "src/memleak_tracer.cc",
        "src/perf_map.cc",
        "src/proc_maps.cc",
        "src/python_maps.cc",
        "src/profile_session.cc",
        "src/ring_buffer_object.cc",
        "src/profiler.cc",
        "src/rodata.cc",
        "src/safe_open.cc",
        "src/ssl_session.cc",
        "src/ssl_tracer.cc",
        "src/symbol_names.cc",
        "src/symbolizer.cc",
        "src/target_set.cc",
        "src/syscount_tracer.cc",
        "src/unwind_maps.cc",
        "src/unwind_registry.cc",
        "src/unwind_table.cc",
        "src/unwinder.cc",
        "src/user_symbols.cc",
        "src/usdt_session.cc",
        "src/usdt_tracer.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../packages/bpf/src"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-ldw", "-ldebuginfod", "-lz"]
    }
  ]
}
