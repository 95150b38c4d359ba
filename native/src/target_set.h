// A job's target in the kernel (packages/bpf/src/target.bpf.h): a cgroup v2 subtree, and the set of
// processes the agent keeps in the target_pids map. The options, the read-only globals and the map,
// shared by the tracers' sessions and their JS faces.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "rodata.h"

struct bpf_map;
struct bpf_object;

namespace tracefleet {

// For the usage strings of the tracers that take the options.
#define TRACEFLEET_TARGET_CGROUP_USAGE \
  "targetCgroup?: { id: bigint | integer > 0 (the cgroup v2 directory's inode number), level: integer 0..1000 (its depth below the root) }"
#define TRACEFLEET_TARGET_PIDS_USAGE "targetPids?: boolean (only the pids given with addTargetPid)"

struct TargetConfig {
  uint64_t cgroupId = 0;  // 0: no cgroup filter
  uint32_t cgroupLevel = 0;
  bool pidSet = false;    // only tgids in target_pids pass
};

// Options targetCgroup and, withPidSet, targetPids; every bad value is a TypeError naming the option.
TargetConfig TargetOptions(const Args& args, const Napi::Object& opts, bool withPidSet);

// The read-only globals of target.bpf.h for config (which must outlive the SetRodata call). withPidSet:
// the object has the pid set too (not built with TRACEFLEET_TARGET_CGROUP_ONLY).
void AddTargetRodata(const TargetConfig& config, bool withPidSet, std::vector<RodataValue>& values);

class TargetPids {
 public:
  // Before load: finds target_pids (throws naming the object when missing) and, when the set is not
  // used, shrinks it to one entry so that the run does not pay for its bucket array.
  void Prepare(bpf_object* object, const std::string& objectName, bool enabled);
  bool Enabled() const { return enabled_; }
  // Throw when the set is not used or the map refuses (a full set: the error names the limit).
  void Add(uint32_t pid);
  void Remove(uint32_t pid);  // nothing to do when absent

 private:
  bool enabled_ = false;
  std::string name_;
  bpf_map* map_ = nullptr;
};

// JS: tracer.addTargetPid(pid) / removeTargetPid(pid). `pids` is null once the tracer is closed;
// `tracer` names it in errors ("Profiler").
Napi::Value AddTargetPidJs(const Napi::CallbackInfo& info, TargetPids* pids, const char* tracer);
Napi::Value RemoveTargetPidJs(const Napi::CallbackInfo& info, TargetPids* pids, const char* tracer);

}  // namespace tracefleet
