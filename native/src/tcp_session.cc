#include "tcp_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "libbpf_log.h"
#include "rodata.h"

namespace tracefleet {

TcpSession::TcpSession(const TcpConfig& config) : config_(config), bpf_(config.objectPath), queue_(config.maxQueuedEvents) {
  bpf_object* object = bpf_.Object();
  bpf_map* events = bpf_object__find_map_by_name(object, "events");
  bpf_map* socks = bpf_object__find_map_by_name(object, "socks");
  hist_ = bpf_object__find_map_by_name(object, "hist");
  counters_ = bpf_object__find_map_by_name(object, "counters");
  if (events == nullptr || socks == nullptr || hist_ == nullptr || counters_ == nullptr ||
      bpf_object__find_program_by_name(object, "on_state") == nullptr) {
    throw std::runtime_error(bpf_.Name() + ": not a tcp object (needs program 'on_state', maps 'events', 'socks', 'hist', 'counters')");
  }
  if (config_.ports.size() > TCP_MAX_PORTS) throw std::runtime_error("at most " + std::to_string(TCP_MAX_PORTS) + " ports");
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config_.comm.data(), std::min<size_t>(config_.comm.size(), TRACEFLEET_COMM_LEN - 1));
  uint16_t ports[TCP_MAX_PORTS] = {};
  std::copy(config_.ports.begin(), config_.ports.end(), ports);
  const uint32_t portCount = static_cast<uint32_t>(config_.ports.size());
  std::vector<RodataValue> values = {
      {"target_tgid", &config_.pid, sizeof(config_.pid)},
      {"target_comm", comm, sizeof(comm)},
      {"target_family", &config_.family, sizeof(config_.family)},
      {"port_count", &portCount, sizeof(portCount)},
      {"ports", ports, sizeof(ports)},
      {"max_events", &config_.maxEvents, sizeof(config_.maxEvents)},
  };
  AddTargetRodata(config_.target, true, values);
  SetRodata(object, bpf_.Name(), values);
  targets_.Prepare(object, bpf_.Name(), config_.target.pidSet);
  LibbpfLogCapture log;
  int err = bpf_map__set_max_entries(socks, config_.maxSockets);
  if (err) throw std::runtime_error(LibbpfError("size the socks map of " + bpf_.Name(), err, log));
  bpf_.Load(events, config_.ringBufferBytes, OnEvent, this);
}

void TcpSession::Attach() {
  if (bpf_.Attached()) return;
  LibbpfLogCapture log;
  bpf_program* program = bpf_object__find_program_by_name(bpf_.Object(), "on_state");
  bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) {
    const int err = errno;
    throw std::runtime_error(LibbpfError("attach tp_btf/inet_sock_set_state", err, log));
  }
  bpf_.AddLink(link);
}

TcpCounters TcpSession::ReadCounters() const {
  TcpCounters out;
  for (uint32_t i = 0; i < TCP_COUNTER_MAX; i++) out.values[i] = SumPerCpu(counters_, i, bpf_.Name() + " counters");
  const uint32_t zero = 0;
  tcp_hist hist{};
  if (bpf_map__lookup_elem(hist_, &zero, sizeof(zero), &hist, sizeof(hist), 0) != 0) {
    throw std::runtime_error("read the hist map of " + bpf_.Name() + ": " + std::strerror(errno));
  }
  std::memcpy(out.slots, hist.slots, sizeof(out.slots));
  out.totalNs = hist.total_ns;
  return out;
}

int TcpSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<TcpSession*>(ctx);
  if (size < sizeof(tcp_event)) return 0;  // cannot happen with a matching object
  tcp_event event;
  std::memcpy(&event, data, sizeof(event));
  self->queue_.Push(std::move(event));
  return 0;
}

}  // namespace tracefleet
