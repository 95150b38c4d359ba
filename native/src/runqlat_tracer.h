// JS face of the run-queue latency histogram (runqlat.bpf.c): three scheduler tracepoints (tp_btf
// sched_wakeup, sched_wakeup_new, sched_switch) fill log2 histograms that read() returns whole
// (a map tracer, map_tracer.h).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include <linux/types.h>

#include "map_tracer.h"
#include "target_set.h"
#include "runqlat/runqlat.h"

struct bpf_map;

namespace tracefleet {

struct RunqlatConfig {
  std::string objectPath;
  uint32_t pid = 0;  // 0: not one process
  bool perCgroup = false;
  uint32_t maxTasks = 0;
  TargetConfig target;  // the job's cgroup and pid set (checked on the waiting task); both off by default
};

struct RunqlatHistogram {
  uint64_t cgroupId;
  uint64_t slots[RUNQLAT_SLOTS];
  uint64_t totalNs;
};

// The object, its three tracepoint links and its maps; no Node here.
class RunqlatSession : public MapSession {
 public:
  explicit RunqlatSession(const RunqlatConfig& config);  // opens, sets rodata, sizes and loads
  std::vector<RunqlatHistogram> Read() const;

 private:
  bpf_map* hists_ = nullptr;
};

class RunqlatTracer : public MapTracer<RunqlatTracer, RunqlatSession> {
 public:
  static constexpr const char* kName = "RunqlatTracer";
  explicit RunqlatTracer(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
};

// sizeof/offsetof of the runqlat key and histogram and the constants of runqlat.h this addon was built with.
Napi::Value RunqlatLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
