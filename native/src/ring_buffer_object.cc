#include "ring_buffer_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libbpf_log.h"
#include "symbol_names.h"

namespace tracefleet {

uint64_t SumPerCpu(bpf_map* map, uint32_t key, const std::string& what) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw std::runtime_error("count possible CPUs: " + std::string(std::strerror(-cpus)));
  std::vector<uint64_t> values(cpus);
  int err = bpf_map__lookup_elem(map, &key, sizeof(key), values.data(), values.size() * sizeof(uint64_t), 0);
  if (err) throw std::runtime_error("read " + what + ": " + std::strerror(-err));
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

RingBufferObject::RingBufferObject(const std::string& path) : name_(Basename(path)) {
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(path.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + path, errno, log));
}

RingBufferObject::~RingBufferObject() {
  DestroyLinks();
  if (consumerPage_ != nullptr) munmap(consumerPage_, pageSize_);
  if (producerPage_ != nullptr) munmap(producerPage_, pageSize_);
  if (ringBuffer_ != nullptr) ring_buffer__free(ringBuffer_);
  if (object_ != nullptr) bpf_object__close(object_);
}

void RingBufferObject::Load(bpf_map* events, uint32_t ringBufferBytes, OnEvent onEvent, void* ctx) {
  LibbpfLogCapture log;
  int err = bpf_map__set_max_entries(events, ringBufferBytes);
  if (err) throw std::runtime_error(LibbpfError("set ring buffer size of " + name_, err, log));
  err = bpf_object__load(object_);
  if (err) throw std::runtime_error(LibbpfError("load " + name_, err, log));
  ringBuffer_ = ring_buffer__new(bpf_map__fd(events), onEvent, ctx, nullptr);
  if (ringBuffer_ == nullptr) throw std::runtime_error(LibbpfError("open ring buffer of " + name_, errno, log));
  // The fill is a metric: a mapping that fails leaves it unknown (sizeBytes 0), never the run.
  long page = sysconf(_SC_PAGESIZE);
  if (page > 0) {
    pageSize_ = static_cast<size_t>(page);
    int fd = bpf_map__fd(events);
    void* consumer = mmap(nullptr, pageSize_, PROT_READ, MAP_SHARED, fd, 0);
    void* producer = mmap(nullptr, pageSize_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(pageSize_));
    if (consumer != MAP_FAILED && producer != MAP_FAILED) {
      consumerPage_ = consumer;
      producerPage_ = producer;
      ringBytes_ = bpf_map__max_entries(events);
    } else {
      if (consumer != MAP_FAILED) munmap(consumer, pageSize_);
      if (producer != MAP_FAILED) munmap(producer, pageSize_);
    }
  }
}

uint64_t RingBufferObject::Avail() const {
  if (consumerPage_ == nullptr) return 0;
  // The kernel advances the producer position, the consumer (libbpf on the poll thread) the other.
  uint64_t consumer = __atomic_load_n(static_cast<const uint64_t*>(consumerPage_), __ATOMIC_ACQUIRE);
  uint64_t producer = __atomic_load_n(static_cast<const uint64_t*>(producerPage_), __ATOMIC_ACQUIRE);
  return producer > consumer ? std::min(producer - consumer, ringBytes_) : 0;
}

RingFill RingBufferObject::Fill() const {
  RingFill fill;
  fill.sizeBytes = ringBytes_;
  fill.availBytes = Avail();
  fill.peakBytes = std::max(peakBytes_.load(std::memory_order_relaxed), fill.availBytes);
  return fill;
}

void RingBufferObject::DestroyLinks() {
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  links_.clear();
}

void RingBufferObject::DestroyLink(bpf_link* link) {
  auto it = std::find(links_.begin(), links_.end(), link);
  if (it == links_.end()) return;
  links_.erase(it);
  bpf_link__destroy(link);
}

void RingBufferObject::ReleaseLink(bpf_link* link) {
  auto it = std::find(links_.begin(), links_.end(), link);
  if (it != links_.end()) links_.erase(it);
}

// ring_buffer__poll's two steps done here, so that the fill is read between them: at wake-up, before the
// records are consumed (read after a consume it would be ~0 whatever the load). Most records commit without a
// wake-up (ringbuf_wakeup.bpf.h): the poll thread then drains them with Consume, which reads the fill first too.
int RingBufferObject::Poll(int timeoutMs) {
  epoll_event event;
  int ready = epoll_wait(ring_buffer__epoll_fd(ringBuffer_), &event, 1, timeoutMs);
  if (ready < 0) return -errno;
  if (ready == 0) return 0;
  return Consume();
}

void RingBufferObject::NotePeak() {
  uint64_t avail = Avail();
  if (avail > peakBytes_.load(std::memory_order_relaxed)) peakBytes_.store(avail, std::memory_order_relaxed);  // one writer: the poll thread
}

int RingBufferObject::Consume() {
  NotePeak();
  return ring_buffer__consume(ringBuffer_);
}

}  // namespace tracefleet
