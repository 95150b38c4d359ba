// What the poll thread of an EventStream drives: a loaded BPF object whose ring buffer
// callback fills a bounded queue. No Node here.
#pragma once

#include <cstddef>

namespace tracefleet {

class EventSource {
 public:
  virtual ~EventSource() = default;

  // Attaches the program(s); throws std::runtime_error naming the step, with nothing left attached.
  virtual void Attach() = 0;
  // After it returns no new record reaches the ring buffer.
  virtual void Detach() = 0;
  // Poll thread only: ring_buffer__poll / ring_buffer__consume.
  virtual int Poll(int timeoutMs) = 0;
  virtual int Consume() = 0;
  // Records waiting in the queue for the JS thread.
  virtual size_t Queued() = 0;
};

}  // namespace tracefleet
