// The libbpf side of the oomkill tracer (oomkill.bpf.o): one tracepoint program on oom:mark_victim whose kills
// arrive on a ring buffer, and the counters it keeps. No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"
#include "event_source.h"
#include "ring_buffer_object.h"
#include "target_set.h"
#include <linux/types.h>

#include "oomkill/oomkill.h"

struct bpf_map;

namespace tracefleet {

struct OomkillConfig {
  std::string objectPath;
  uint32_t pid = 0;  // victim pid; 0: any
  std::string comm;  // victim comm; "": any
  uint64_t maxEvents = 0;
  uint32_t ringBufferBytes = 1u << 16;
  size_t maxQueuedEvents = 4096;
  TargetConfig target;
};

using OomkillQueue = BoundedQueue<oomkill_event>;

struct OomkillCounters {
  uint64_t values[OOMKILL_COUNTER_MAX] = {};
};

class OomkillSession : public EventSource {
 public:
  explicit OomkillSession(const OomkillConfig& config);  // opens, sets rodata, sizes and loads; throws naming the step
  ~OomkillSession() override = default;
  OomkillSession(const OomkillSession&) = delete;
  OomkillSession& operator=(const OomkillSession&) = delete;

  void Attach() override;
  void Detach() override { bpf_.DestroyLinks(); }
  int Poll(int timeoutMs) override { return bpf_.Poll(timeoutMs); }
  int Consume() override { return bpf_.Consume(); }
  size_t Queued() override { return queue_.Size(); }

  OomkillCounters ReadCounters() const;
  RingFill Ring() const { return bpf_.Fill(); }
  TargetPids& Targets() { return targets_; }
  OomkillQueue& Queue() { return queue_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);

  OomkillConfig config_;
  RingBufferObject bpf_;
  bpf_map* counters_ = nullptr;
  TargetPids targets_;
  OomkillQueue queue_;
};

}  // namespace tracefleet
