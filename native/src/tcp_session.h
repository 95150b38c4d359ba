// The libbpf side of the tcp tracer (tcp.bpf.o): one tp_btf program on sock:inet_sock_set_state whose
// closed connections arrive on a ring buffer, and the connect-latency histogram and counters it keeps.
// No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"
#include "event_source.h"
#include "ring_buffer_object.h"
#include "target_set.h"
#include <linux/types.h>

#include "tcp/tcp.h"

struct bpf_map;

namespace tracefleet {

struct TcpConfig {
  std::string objectPath;
  uint32_t pid = 0;     // 0: any process
  std::string comm;     // "": any
  uint16_t family = 0;  // 0: both, else AF_INET or AF_INET6
  std::vector<uint16_t> ports;  // local or remote port; empty: any
  uint64_t maxEvents = 0;
  uint32_t maxSockets = TCP_DEFAULT_MAX_SOCKETS;
  uint32_t ringBufferBytes = 1u << 20;
  size_t maxQueuedEvents = 65536;
  TargetConfig target;
};

using TcpQueue = BoundedQueue<tcp_event>;

struct TcpCounters {
  uint64_t values[TCP_COUNTER_MAX] = {};
  uint64_t slots[TCP_SLOTS] = {};
  uint64_t totalNs = 0;
};

class TcpSession : public EventSource {
 public:
  explicit TcpSession(const TcpConfig& config);  // opens, sets rodata, sizes and loads; throws naming the step
  ~TcpSession() override = default;
  TcpSession(const TcpSession&) = delete;
  TcpSession& operator=(const TcpSession&) = delete;

  void Attach() override;
  void Detach() override { bpf_.DestroyLinks(); }
  int Poll(int timeoutMs) override { return bpf_.Poll(timeoutMs); }
  int Consume() override { return bpf_.Consume(); }
  size_t Queued() override { return queue_.Size(); }

  TcpCounters ReadCounters() const;
  RingFill Ring() const { return bpf_.Fill(); }
  TargetPids& Targets() { return targets_; }
  TcpQueue& Queue() { return queue_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);

  TcpConfig config_;
  RingBufferObject bpf_;
  bpf_map* hist_ = nullptr;
  bpf_map* counters_ = nullptr;
  TargetPids targets_;
  TcpQueue queue_;
};

}  // namespace tracefleet
