// JS face of the run-queue latency histogram (runqlat.bpf.c): three scheduler tracepoints (tp_btf
// sched_wakeup, sched_wakeup_new, sched_switch) fill log2 histograms that read() returns whole. Nothing
// streams, so there is no poll thread: the run reads the maps when it reports.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <linux/types.h>

#include "target_set.h"
#include "runqlat/runqlat.h"

struct bpf_object;
struct bpf_map;
struct bpf_link;

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
class RunqlatSession {
 public:
  explicit RunqlatSession(const RunqlatConfig& config);  // opens, sets rodata, sizes and loads
  ~RunqlatSession();
  RunqlatSession(const RunqlatSession&) = delete;
  RunqlatSession& operator=(const RunqlatSession&) = delete;

  void Attach();
  void Detach();
  std::vector<RunqlatHistogram> Read() const;
  uint64_t Counter(uint32_t index) const;
  TargetPids& Targets() { return targets_; }

 private:
  std::string name_;
  bpf_object* object_ = nullptr;
  bpf_map* hists_ = nullptr;
  bpf_map* counters_ = nullptr;
  std::vector<bpf_link*> links_;
  TargetPids targets_;
};

class RunqlatTracer : public Napi::ObjectWrap<RunqlatTracer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RunqlatTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value AddTargetPid(const Napi::CallbackInfo& info);
  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info);
  RunqlatSession& Open(Napi::Env env, const char* method);

  std::unique_ptr<RunqlatSession> session_;  // null once closed
};

// sizeof/offsetof of the runqlat key and histogram and the constants of runqlat.h this addon was built with.
Napi::Value RunqlatLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
