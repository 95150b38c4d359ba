// JS face of the block I/O latency and size histograms (biolatency.bpf.c): tp_btf block_rq_insert (queued),
// block_rq_issue and block_rq_complete fill log2 histograms per disk (and per process) that read() returns whole
// (a map tracer, map_tracer.h).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "map_tracer.h"
#include "target_set.h"
#include <linux/types.h>

#include "biolatency/biolatency.h"

struct bpf_map;

namespace tracefleet {

struct BiolatencyConfig {
  std::string objectPath;
  uint32_t pid = 0;  // 0: not one process
  uint32_t dev = 0;  // 0: every disk; else the kernel's dev_t (major << 20 | minor)
  bool perProcess = false;
  bool queued = false;
  uint32_t maxRequests = 0;
  uint32_t maxHists = 0;  // perProcess: (disk, process) keys; else disks
  TargetConfig target;  // checked on the task current at insert/issue
};

struct BiolatencyHistogram {
  biolat_key key;
  biolat_hist hist;
};

class BiolatencySession : public MapSession {
 public:
  explicit BiolatencySession(const BiolatencyConfig& config);  // opens, sets rodata, sizes and loads
  std::vector<BiolatencyHistogram> Read() const;

 private:
  bool perProcess_ = false;
  bpf_map* hists_ = nullptr;      // perProcess: one shared histogram per (disk, process)
  bpf_map* diskHists_ = nullptr;  // per disk: one histogram per CPU, summed here
};

class BiolatencyTracer : public MapTracer<BiolatencyTracer, BiolatencySession> {
 public:
  static constexpr const char* kName = "BiolatencyTracer";
  explicit BiolatencyTracer(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
};

// sizeof/offsetof of the biolatency structs and the constants of biolatency.h this addon was built with.
Napi::Value BiolatencyLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
