// JS face of the syscall counter (syscount.bpf.c): one tracepoint, raw_syscalls:sys_enter,
// counting per (process, syscall) in a hash map that read() returns whole. Nothing streams,
// so there is no poll thread: the run reads the map when it reports.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "target_set.h"

struct bpf_object;
struct bpf_map;
struct bpf_link;

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
class SyscountSession {
 public:
  explicit SyscountSession(const SyscountConfig& config);  // opens, sets rodata, sizes and loads
  ~SyscountSession();
  SyscountSession(const SyscountSession&) = delete;
  SyscountSession& operator=(const SyscountSession&) = delete;

  void Attach();
  void Detach();
  std::vector<SyscountEntry> Read() const;
  uint64_t Counter(uint32_t index) const;
  TargetPids& Targets() { return targets_; }

 private:
  std::string name_;
  bpf_object* object_ = nullptr;
  bpf_map* counts_ = nullptr;
  bpf_map* counters_ = nullptr;
  bpf_link* link_ = nullptr;
  TargetPids targets_;
};

class SyscountTracer : public Napi::ObjectWrap<SyscountTracer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SyscountTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value AddTargetPid(const Napi::CallbackInfo& info);
  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info);
  SyscountSession& Open(Napi::Env env, const char* method);

  std::unique_ptr<SyscountSession> session_;  // null once closed
};

// sizeof/offsetof of the syscount key and value and the constants of syscount.h this addon was built with.
Napi::Value SyscountLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
