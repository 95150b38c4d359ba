#include "execopen_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "libbpf_log.h"
#include "rodata.h"

namespace tracefleet {
namespace {

struct ProgramInfo {
  const char* name;
  const char* tracepoint;
  bool exec;
};

constexpr ProgramInfo kPrograms[] = {
    {"on_execve", "syscalls/sys_enter_execve", true},     {"on_execve_exit", "syscalls/sys_exit_execve", true},
    {"on_execveat", "syscalls/sys_enter_execveat", true}, {"on_execveat_exit", "syscalls/sys_exit_execveat", true},
    {"on_open", "syscalls/sys_enter_open", false},        {"on_open_exit", "syscalls/sys_exit_open", false},
    {"on_openat", "syscalls/sys_enter_openat", false},    {"on_openat_exit", "syscalls/sys_exit_openat", false},
    {"on_openat2", "syscalls/sys_enter_openat2", false},  {"on_openat2_exit", "syscalls/sys_exit_openat2", false},
};

static_assert(offsetof(execopen_event, data) == EXECOPEN_HEADER_BYTES, "EXECOPEN_HEADER_BYTES");

}  // namespace

ExecOpenSession::ExecOpenSession(const ExecOpenConfig& config)
    : config_(config), bpf_(config.objectPath), queue_(config.maxQueuedEvents) {
  bpf_object* object = bpf_.Object();
  bpf_map* events = bpf_object__find_map_by_name(object, "events");
  bpf_map* execs = bpf_object__find_map_by_name(object, "execs");
  bpf_map* opens = bpf_object__find_map_by_name(object, "opens");
  counters_ = bpf_object__find_map_by_name(object, "counters");
  if (events == nullptr || execs == nullptr || opens == nullptr || counters_ == nullptr) {
    throw std::runtime_error(bpf_.Name() + ": not an execopen object (needs maps 'events', 'execs', 'opens', 'counters')");
  }
  if (!config_.exec && !config_.open) throw std::runtime_error("trace execs, opens or both");
  for (const ProgramInfo& p : kPrograms) {
    bpf_program* program = bpf_object__find_program_by_name(object, p.name);
    if (program == nullptr) throw std::runtime_error(bpf_.Name() + ": not an execopen object (no program '" + p.name + "')");
    bpf_program__set_autoload(program, p.exec ? config_.exec : config_.open);
  }
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config_.comm.data(), std::min<size_t>(config_.comm.size(), TRACEFLEET_COMM_LEN - 1));
  const bool traceExec = config_.exec, traceOpen = config_.open, failedOnly = config_.failedOnly;
  std::vector<RodataValue> values = {
      {"target_tgid", &config_.pid, sizeof(config_.pid)},
      {"target_comm", comm, sizeof(comm)},
      {"trace_exec", &traceExec, sizeof(traceExec)},
      {"trace_open", &traceOpen, sizeof(traceOpen)},
      {"failed_only", &failedOnly, sizeof(failedOnly)},
      {"max_events", &config_.maxEvents, sizeof(config_.maxEvents)},
  };
  AddTargetRodata(config_.target, true, values);
  SetRodata(object, bpf_.Name(), values);
  targets_.Prepare(object, bpf_.Name(), config_.target.pidSet);
  LibbpfLogCapture log;
  // The map of the kind not traced keeps one entry: it costs nothing.
  int err = bpf_map__set_max_entries(execs, config_.exec ? EXECOPEN_MAX_EXECS : 1);
  if (!err) err = bpf_map__set_max_entries(opens, config_.open ? config_.maxPending : 1);
  if (err) throw std::runtime_error(LibbpfError("size the pending maps of " + bpf_.Name(), err, log));
  bpf_.Load(events, config_.ringBufferBytes, OnEvent, this);
}

void ExecOpenSession::Attach() {
  if (bpf_.Attached()) return;
  for (const ProgramInfo& p : kPrograms) {
    if (p.exec ? !config_.exec : !config_.open) continue;
    LibbpfLogCapture log;
    bpf_program* program = bpf_object__find_program_by_name(bpf_.Object(), p.name);
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      const int err = errno;
      bpf_.DestroyLinks();
      throw std::runtime_error(LibbpfError(std::string("attach tracepoint ") + p.tracepoint, err, log));
    }
    bpf_.AddLink(link);
  }
}

ExecOpenCounters ExecOpenSession::ReadCounters() const {
  ExecOpenCounters out;
  for (uint32_t i = 0; i < EXECOPEN_COUNTER_MAX; i++) out.values[i] = SumPerCpu(counters_, i, bpf_.Name() + " counters");
  return out;
}

int ExecOpenSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<ExecOpenSession*>(ctx);
  if (size < EXECOPEN_HEADER_BYTES) return 0;  // cannot happen with a matching object
  ExecOpenRecord record;
  std::memcpy(record.raw, data, EXECOPEN_HEADER_BYTES);
  const size_t available = size - EXECOPEN_HEADER_BYTES;
  const size_t used = std::min<size_t>({static_cast<size_t>(record.Header().data_size), available, EXECOPEN_DATA_BYTES});
  record.bytes.assign(static_cast<const char*>(data) + EXECOPEN_HEADER_BYTES, used);
  self->queue_.Push(std::move(record));
  return 0;
}

}  // namespace tracefleet
