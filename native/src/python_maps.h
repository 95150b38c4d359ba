// The Python-frame maps of a loaded object that includes python.bpf.h (profile, usdt, ssl, memleak): where the agent
// writes a process's interpreter layout, and the counters of the frames read. Shared by the tracers'
// sessions and their JS faces.
#pragma once

#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "profile_event.h"

struct bpf_map;
struct bpf_object;

namespace tracefleet {

class PythonMaps {
 public:
  // Finds py_procs and py_counters in the object; throws naming the object when `enabled` and they are missing.
  void Find(bpf_object* object, const std::string& objectName, bool enabled);
  void Set(uint32_t pid, const py_proc& proc);  // throws when not enabled or the update fails
  void Forget(uint32_t pid);                    // nothing to do when absent
  std::vector<uint64_t> ReadCounters() const;   // PY_COUNTER_* order; zeros without the maps

 private:
  bool enabled_ = false;
  std::string name_;
  bpf_map* procs_ = nullptr;
  bpf_map* counters_ = nullptr;
};

// A record's Python frames from its event (profile_event, usdt_event: the same py_* fields), within the bound.
template <typename Event, typename Record>
void CopyPythonFrames(const Event& event, Record& record) {
  record.pyStatus = event.py_frames_count;
  if (event.py_frames_count > 0) {
    record.pyFrames.assign(event.py_frames, event.py_frames + std::min<size_t>(event.py_frames_count, TRACEFLEET_MAX_PY_FRAMES));
  }
  record.pyTruncated = event.py_truncated != 0;
}

// JS: tracer.setPythonProcess(pid, layout: Buffer) / forgetPythonProcess(pid). `maps` is null once closed.
Napi::Value SetPythonProcessJs(const Napi::CallbackInfo& info, PythonMaps* maps);
Napi::Value ForgetPythonProcessJs(const Napi::CallbackInfo& info, PythonMaps* maps);
Napi::Object PythonCountersToJs(Napi::Env env, const std::vector<uint64_t>& counters);

}  // namespace tracefleet
