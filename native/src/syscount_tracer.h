// JS face of the syscall counter (syscount.bpf.c): one tracepoint, raw_syscalls:sys_enter,
// counting per (process, syscall) in a hash map that read() returns whole (a map tracer, map_tracer.h).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "map_tracer.h"
#include "target_set.h"

struct bpf_map;

namespace tracefleet {

struct SyscountConfig {
  std::string objectPath;
  uint32_t pid = 0;   // 0: not one process
  std::string comm;   // empty: any comm
  uint32_t maxKeys = 0;
  TargetConfig target;  // the job's cgroup and pid set (target.bpf.h); both off by default
};

struct SyscountEntry {
  uint32_t pid;
  uint32_t nr;
  uint64_t count;
  std::string comm;
};

// The object, its tracepoint link and its maps; no Node here.
class SyscountSession : public MapSession {
 public:
  explicit SyscountSession(const SyscountConfig& config);  // opens, sets rodata, sizes and loads
  std::vector<SyscountEntry> Read() const;

 private:
  bpf_map* counts_ = nullptr;
};

class SyscountTracer : public MapTracer<SyscountTracer, SyscountSession> {
 public:
  static constexpr const char* kName = "SyscountTracer";
  explicit SyscountTracer(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
};

// sizeof/offsetof of the syscount key and value and the constants of syscount.h this addon was built with.
Napi::Value SyscountLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
