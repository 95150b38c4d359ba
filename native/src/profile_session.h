// The libbpf side of the CPU profiler: load profile.bpf.o, attach it to one software
// CPU-clock perf event per online CPU, read its ring buffer and counters. No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "event_source.h"
#include "profile_event.h"
#include "python_maps.h"
#include "ring_buffer_object.h"
#include "sample_queue.h"
#include "target_set.h"
#include "unwind_maps.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct ring_buffer;

namespace tracefleet {

struct ProfileConfig {
  std::string objectPath;
  uint32_t frequencyHz = 0;
  uint32_t targetPid = 0;
  std::string targetComm;  // empty: no comm filter
  bool includeIdle = false;
  uint32_t ringBufferBytes = 4u << 20;
  size_t maxQueuedSamples = 65536;
  bool foldSamples = false;  // identical samples waiting for JS become one with a count (FoldKey)
  UnwindFds unwind;  // valid: user stacks through the agent's unwind tables
  bool python = false;  // read Python frames of the processes given with SetPythonProcess
  TargetConfig target;  // the job's cgroup and pid set (target.bpf.h); both off by default
};

struct KernelCounters {
  uint64_t samplesSeen = 0;
  uint64_t kernelDrops = 0;
};

class ProfileSession : public EventSource {
 public:
  // Opens and loads the object; throws std::runtime_error naming the failed step.
  explicit ProfileSession(const ProfileConfig& config);
  ~ProfileSession() override;
  ProfileSession(const ProfileSession&) = delete;
  ProfileSession& operator=(const ProfileSession&) = delete;

  // Opens the perf events and attaches the program; on failure nothing stays attached.
  void Attach() override;
  // Destroys the links, which disables and closes their perf events: no sample runs after it.
  void Detach() override;

  // Only ever called from one thread at a time (the poll thread).
  int Poll(int timeoutMs) override;
  RingFill Ring() const { return bpf_.Fill(); }
  int Consume() override;
  size_t Queued() override { return queue_.Size(); }

  KernelCounters ReadCounters() const;
  std::vector<uint64_t> ReadUnwind() const { return ReadUnwindCounters(bpf_.Object()); }
  // Where the interpreter layouts of Python processes go (python.h); a process without one has no Python frames.
  PythonMaps& Python() { return python_; }
  const PythonMaps& Python() const { return python_; }
  // The job's pid set (with config.target.pidSet).
  TargetPids& Targets() { return targets_; }
  SampleQueue& Queue() { return queue_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  void SetReadOnlyGlobals();

  ProfileConfig config_;
  RingBufferObject bpf_;
  bpf_program* program_ = nullptr;
  bpf_map* events_ = nullptr;
  bpf_map* counters_ = nullptr;
  PythonMaps python_;
  TargetPids targets_;
  SampleQueue queue_;
};

// CPUs listed in /sys/devices/system/cpu/online.
std::vector<int> OnlineCpus();

}  // namespace tracefleet
