#include "oomkill_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "libbpf_log.h"
#include "rodata.h"

namespace tracefleet {

OomkillSession::OomkillSession(const OomkillConfig& config) : config_(config), bpf_(config.objectPath), queue_(config.maxQueuedEvents) {
  bpf_object* object = bpf_.Object();
  bpf_map* events = bpf_object__find_map_by_name(object, "events");
  counters_ = bpf_object__find_map_by_name(object, "counters");
  if (events == nullptr || counters_ == nullptr || bpf_object__find_program_by_name(object, "on_mark_victim") == nullptr) {
    throw std::runtime_error(bpf_.Name() + ": not an oomkill object (needs program 'on_mark_victim', maps 'events', 'counters')");
  }
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config_.comm.data(), std::min<size_t>(config_.comm.size(), TRACEFLEET_COMM_LEN - 1));
  std::vector<RodataValue> values = {
      {"target_tgid", &config_.pid, sizeof(config_.pid)},
      {"target_comm", comm, sizeof(comm)},
      {"max_events", &config_.maxEvents, sizeof(config_.maxEvents)},
  };
  AddTargetRodata(config_.target, true, values);
  SetRodata(object, bpf_.Name(), values);
  targets_.Prepare(object, bpf_.Name(), config_.target.pidSet);
  bpf_.Load(events, config_.ringBufferBytes, OnEvent, this);
}

void OomkillSession::Attach() {
  if (bpf_.Attached()) return;
  LibbpfLogCapture log;
  bpf_program* program = bpf_object__find_program_by_name(bpf_.Object(), "on_mark_victim");
  bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) {
    const int err = errno;
    throw std::runtime_error(LibbpfError("attach tracepoint oom:mark_victim", err, log));
  }
  bpf_.AddLink(link);
}

OomkillCounters OomkillSession::ReadCounters() const {
  OomkillCounters out;
  for (uint32_t i = 0; i < OOMKILL_COUNTER_MAX; i++) out.values[i] = SumPerCpu(counters_, i, bpf_.Name() + " counters");
  return out;
}

int OomkillSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<OomkillSession*>(ctx);
  if (size < sizeof(oomkill_event)) return 0;  // cannot happen with a matching object
  oomkill_event event;
  std::memcpy(&event, data, sizeof(event));
  self->queue_.Push(std::move(event));
  return 0;
}

}  // namespace tracefleet
