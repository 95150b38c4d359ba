// The libbpf side of the USDT tracer: load usdt.bpf.o with the per-probe settings, attach
// the one program to every requested probe (the cookie is the probe index), read its ring
// buffer and counters. No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"
#include "event_source.h"
#include "ring_buffer_object.h"
#include "python_maps.h"
#include "target_set.h"
#include "unwind_maps.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct ring_buffer;

namespace tracefleet {

constexpr int kNoArg = -1;

struct UsdtProbeSpec {
  std::string path;  // binary or shared library holding the probe
  std::string provider;
  std::string name;
  uint32_t probe = 0;         // index reported in events; < USDT_MAX_PROBES
  int strArg = kNoArg;        // argument holding a user pointer to a string
  int strLenArg = kNoArg;     // argument holding its length; kNoArg: NUL-terminated
};

struct UsdtConfig {
  std::string objectPath;
  uint32_t pid = 0;  // 0: every process that maps the file
  std::vector<UsdtProbeSpec> probes;
  uint64_t maxEvents = 0;
  bool captureStacks = false;
  uint32_t ringBufferBytes = 4u << 20;
  size_t maxQueuedEvents = 65536;
  UnwindFds unwind;  // valid: user stacks through the agent's unwind tables
  bool python = false;  // with captureStacks: read Python frames of the processes given (PythonMaps)
  TargetConfig target;  // the job's cgroup and pid set (target.bpf.h); both off by default
};

struct UsdtRecord {
  uint32_t probe = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t tsNs = 0;
  std::vector<int64_t> args;
  bool hasStr = false;   // the probe has a string argument and it was read
  std::string str;
  int32_t strError = 0;  // negative errno when the probe has a string argument that could not be read
  int32_t userStackError = 0;
  std::vector<uint64_t> userStack;
  std::vector<uint64_t> pyFrames;  // innermost first (python.h)
  int32_t pyStatus = 0;
  bool pyTruncated = false;
};

using UsdtQueue = BoundedQueue<UsdtRecord>;

struct UsdtCounters {
  std::vector<uint64_t> hits;  // per probe index, up to the highest index in use
  uint64_t overBudget = 0;
  uint64_t kernelDrops = 0;
};

class UsdtSession : public EventSource {
 public:
  // Opens and loads the object; throws std::runtime_error naming the failed step.
  explicit UsdtSession(const UsdtConfig& config);
  ~UsdtSession() override;
  UsdtSession(const UsdtSession&) = delete;
  UsdtSession& operator=(const UsdtSession&) = delete;

  // Attaches every probe in order; on failure detaches what it had attached and throws
  // naming the probe and the binary.
  void Attach() override;
  void Detach() override;

  int Poll(int timeoutMs) override;
  RingFill Ring() const { return bpf_.Fill(); }
  int Consume() override;
  size_t Queued() override { return queue_.Size(); }

  UsdtCounters ReadCounters() const;
  std::vector<uint64_t> ReadUnwind() const { return ReadUnwindCounters(bpf_.Object()); }
  PythonMaps& Python() { return python_; }
  const PythonMaps& Python() const { return python_; }
  // The job's pid set (with config.target.pidSet).
  TargetPids& Targets() { return targets_; }
  UsdtQueue& Queue() { return queue_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  void SetReadOnlyGlobals();

  UsdtConfig config_;
  RingBufferObject bpf_;
  uint32_t probeSlots_ = 0;     // highest probe index in use + 1
  std::vector<bool> hasStr_;    // per probe index
  bpf_program* program_ = nullptr;
  bpf_map* events_ = nullptr;
  bpf_map* hits_ = nullptr;
  bpf_map* counters_ = nullptr;
  PythonMaps python_;
  TargetPids targets_;
  UsdtQueue queue_;
};

}  // namespace tracefleet
