#include "ring_buffer_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

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

int RingBufferObject::Poll(int timeoutMs) { return ring_buffer__poll(ringBuffer_, timeoutMs); }

int RingBufferObject::Consume() { return ring_buffer__consume(ringBuffer_); }

}  // namespace tracefleet
