// A BPF object whose events arrive on one ring buffer, with the links attached from it: the
// open / size / load / poll / detach / close steps the profiler, the USDT and the SSL tracers share.
// No Node here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_map;
struct bpf_link;
struct ring_buffer;

namespace tracefleet {

// How full a ring buffer is: its size, the bytes written and not yet consumed now, and the most seen
// waiting before a poll (the poll thread samples it). sizeBytes 0: the ring's positions could not be mapped.
struct RingFill {
  uint64_t sizeBytes = 0;
  uint64_t availBytes = 0;
  uint64_t peakBytes = 0;
};

class RingBufferObject {
 public:
  using OnEvent = int (*)(void* ctx, void* data, size_t size);

  // Opens the file; throws std::runtime_error naming it, with libbpf's message.
  explicit RingBufferObject(const std::string& path);
  // Destroys the links (newest first), then frees the ring buffer and closes the object.
  ~RingBufferObject();
  RingBufferObject(const RingBufferObject&) = delete;
  RingBufferObject& operator=(const RingBufferObject&) = delete;

  bpf_object* Object() const { return object_; }
  // The file's base name, for error messages.
  const std::string& Name() const { return name_; }

  // Sizes the ring buffer map, loads the object (the verifier log in the error) and opens
  // the ring buffer. Read-only globals must be set before.
  void Load(bpf_map* events, uint32_t ringBufferBytes, OnEvent onEvent, void* ctx);

  void AddLink(bpf_link* link) { links_.push_back(link); }
  bool Attached() const { return !links_.empty(); }
  void DestroyLinks();
  // Destroys one link added with AddLink (a tracer that detaches some attachments and keeps the rest).
  void DestroyLink(bpf_link* link);
  // Forgets `link` without destroying it: the caller destroys it (SslSession detaches links concurrently).
  void ReleaseLink(bpf_link* link);

  // Waits for records (epoll), then consumes them as Consume does: ring_buffer__poll's result.
  int Poll(int timeoutMs);
  // Notes the fill for Fill's peak, then consumes what is there.
  int Consume();
  // Any thread. libbpf 1.1 (Debian 12) has no ring__avail_data_size(), so Load maps the ring's consumer and
  // producer position pages read-only, as libbpf itself does, and this reads the two positions.
  RingFill Fill() const;

 private:
  uint64_t Avail() const;
  void NotePeak();

  void* consumerPage_ = nullptr;
  void* producerPage_ = nullptr;
  size_t pageSize_ = 0;
  uint64_t ringBytes_ = 0;
  std::atomic<uint64_t> peakBytes_{0};
  std::string name_;
  bpf_object* object_ = nullptr;
  ring_buffer* ringBuffer_ = nullptr;
  std::vector<bpf_link*> links_;
};

// One key of a per-CPU array map, summed over the possible CPUs; `what` names the map in errors.
uint64_t SumPerCpu(bpf_map* map, uint32_t key, const std::string& what);

}  // namespace tracefleet
