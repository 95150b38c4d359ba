// JS face of the off-CPU tracer (offcpu.bpf.c): tp_btf sched_switch sums blocked time per (process, comm, user
// stack, kernel stack) in the kernel; read() returns what was added to each key since the previous read, with its
// stacks. Nothing streams, so there is no poll thread: the run reads the maps when it flushes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <linux/types.h>

#include "target_set.h"
#include "unwind_maps.h"
#include "offcpu/offcpu.h"

struct bpf_object;
struct bpf_map;
struct bpf_link;

namespace tracefleet {

struct OffCpuConfig {
  std::string objectPath;
  uint32_t pid = 0;        // 0: not one process
  std::string comm;        // empty: no comm filter
  uint64_t minBlockNs = OFFCPU_DEFAULT_MIN_BLOCK_NS;
  bool kernelStacks = true;
  uint32_t wallClockHz = 0;  // > 0: also sample the target on the CPU at this rate per CPU (the wall-clock view)
  uint32_t maxTasks = OFFCPU_DEFAULT_MAX_TASKS;
  uint32_t maxStacks = OFFCPU_DEFAULT_MAX_STACKS;
  UnwindFds unwind;        // valid: user stacks through the agent's unwind tables
  TargetConfig target;     // the job's cgroup and pid set (target.bpf.h); both off by default
};

// One key's growth since the previous read.
struct OffCpuDelta {
  offcpu_key key;
  uint64_t us = 0;      // floor(total/1000) now minus at the previous read: the sum of the reads is exact
  uint64_t blocks = 0;
  std::vector<uint64_t> userStack;
  std::vector<uint64_t> kernelStack;
  int32_t userStackError = 0;
  int32_t kernelStackError = 0;
};

// The object, its tracepoint link and its maps; no Node here.
class OffCpuSession {
 public:
  explicit OffCpuSession(const OffCpuConfig& config);  // opens, sets rodata, sizes and loads
  ~OffCpuSession();
  OffCpuSession(const OffCpuSession&) = delete;
  OffCpuSession& operator=(const OffCpuSession&) = delete;

  void Attach();
  void Detach();
  std::vector<OffCpuDelta> ReadDeltas();
  uint64_t Counter(uint32_t index) const;
  std::vector<uint64_t> ReadUnwind() const { return ReadUnwindCounters(object_); }
  TargetPids& Targets() { return targets_; }

 private:
  void Stacks(OffCpuDelta& d) const;

  std::string name_;
  bpf_object* object_ = nullptr;
  bpf_map* counts_ = nullptr;
  bpf_map* userStacks_ = nullptr;
  bpf_map* kernelStacks_ = nullptr;
  bpf_map* counters_ = nullptr;
  std::vector<bpf_link*> links_;
  uint32_t wallClockHz_ = 0;
  TargetPids targets_;
  // Each key's totals at the previous read (the kernel's counts only grow during a run).
  std::map<std::string, offcpu_value> seen_;
};

class OffCpuTracer : public Napi::ObjectWrap<OffCpuTracer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit OffCpuTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value AddTargetPid(const Napi::CallbackInfo& info);
  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info);
  OffCpuSession& Open(Napi::Env env, const char* method);

  std::unique_ptr<OffCpuSession> session_;  // null once closed
};

// sizeof/offsetof of the off-CPU key, value and start record and the constants of offcpu.h this addon was built with.
Napi::Value OffCpuLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
