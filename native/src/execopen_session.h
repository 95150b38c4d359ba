// The libbpf side of the exec-open tracer (execopen.bpf.o): tracepoint programs on the execve/execveat and
// open/openat/openat2 syscalls whose events arrive on a ring buffer, and the counters they keep. No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"
#include "event_source.h"
#include "ring_buffer_object.h"
#include "target_set.h"
#include <linux/types.h>

#include "execopen/execopen.h"

struct bpf_map;

namespace tracefleet {

struct ExecOpenConfig {
  std::string objectPath;
  uint32_t pid = 0;  // 0: any process
  std::string comm;  // "": any
  bool exec = true;
  bool open = true;
  bool failedOnly = false;
  uint64_t maxEvents = 0;
  uint32_t maxPending = EXECOPEN_DEFAULT_MAX_PENDING;
  uint32_t ringBufferBytes = 1u << 20;
  size_t maxQueuedEvents = 65536;
  TargetConfig target;
};

// One event as it left the ring: the fixed header and the bytes of data it carried.
struct ExecOpenRecord {
  alignas(8) unsigned char raw[EXECOPEN_HEADER_BYTES];  // the header fields of struct execopen_event
  std::string bytes;
  // Only fields before data may be read through this.
  const execopen_event& Header() const { return *reinterpret_cast<const execopen_event*>(raw); }
};

using ExecOpenQueue = BoundedQueue<ExecOpenRecord>;

struct ExecOpenCounters {
  uint64_t values[EXECOPEN_COUNTER_MAX] = {};
};

class ExecOpenSession : public EventSource {
 public:
  explicit ExecOpenSession(const ExecOpenConfig& config);  // opens, sets rodata, sizes and loads; throws naming the step
  ~ExecOpenSession() override = default;
  ExecOpenSession(const ExecOpenSession&) = delete;
  ExecOpenSession& operator=(const ExecOpenSession&) = delete;

  void Attach() override;
  void Detach() override { bpf_.DestroyLinks(); }
  int Poll(int timeoutMs) override { return bpf_.Poll(timeoutMs); }
  int Consume() override { return bpf_.Consume(); }
  size_t Queued() override { return queue_.Size(); }

  ExecOpenCounters ReadCounters() const;
  RingFill Ring() const { return bpf_.Fill(); }
  TargetPids& Targets() { return targets_; }
  ExecOpenQueue& Queue() { return queue_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);

  ExecOpenConfig config_;
  RingBufferObject bpf_;
  bpf_map* counters_ = nullptr;
  TargetPids targets_;
  ExecOpenQueue queue_;
};

}  // namespace tracefleet
