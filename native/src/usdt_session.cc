#include "usdt_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "libbpf_log.h"
#include "rodata.h"
#include "safe_open.h"
#include "usdt_event.h"

namespace tracefleet {

UsdtSession::UsdtSession(const UsdtConfig& config)
    : config_(config), bpf_(config.objectPath), hasStr_(USDT_MAX_PROBES, false), queue_(config.maxQueuedEvents) {
  for (const UsdtProbeSpec& spec : config_.probes) {
    if (spec.probe >= USDT_MAX_PROBES) throw std::runtime_error("probe index " + std::to_string(spec.probe) + " is not below " + std::to_string(USDT_MAX_PROBES));
    probeSlots_ = std::max(probeSlots_, spec.probe + 1);
    if (spec.strArg != kNoArg) hasStr_[spec.probe] = true;
  }
  program_ = bpf_object__find_program_by_name(bpf_.Object(), "usdt_hit");
  events_ = bpf_object__find_map_by_name(bpf_.Object(), "events");
  hits_ = bpf_object__find_map_by_name(bpf_.Object(), "hits");
  counters_ = bpf_object__find_map_by_name(bpf_.Object(), "counters");
  if (program_ == nullptr || events_ == nullptr || hits_ == nullptr || counters_ == nullptr) {
    throw std::runtime_error(bpf_.Name() + ": not a usdt object (needs program 'usdt_hit', maps 'events', 'hits' and 'counters')");
  }
  python_.Find(bpf_.Object(), bpf_.Name(), config_.python);
  targets_.Prepare(bpf_.Object(), bpf_.Name(), config_.target.pidSet);
  SetReadOnlyGlobals();
  UseUnwindMaps(bpf_.Object(), bpf_.Name().c_str(), config_.unwind);
  bpf_.Load(events_, config_.ringBufferBytes, OnEvent, this);
}

// bpf_ destroys the links, then frees the ring buffer and closes the object.
UsdtSession::~UsdtSession() = default;

void UsdtSession::SetReadOnlyGlobals() {
  uint8_t strArg[USDT_MAX_PROBES];
  uint8_t strLenArg[USDT_MAX_PROBES];
  std::memset(strArg, USDT_NO_ARG, sizeof(strArg));
  std::memset(strLenArg, USDT_NO_ARG, sizeof(strLenArg));
  for (const UsdtProbeSpec& spec : config_.probes) {
    if (spec.strArg != kNoArg) strArg[spec.probe] = static_cast<uint8_t>(spec.strArg);
    if (spec.strLenArg != kNoArg) strLenArg[spec.probe] = static_cast<uint8_t>(spec.strLenArg);
  }
  const bool captureStacks = config_.captureStacks;
  std::vector<RodataValue> values = {
      {"target_tgid", &config_.pid, sizeof(config_.pid)},
      {"max_events", &config_.maxEvents, sizeof(config_.maxEvents)},
      {"capture_stacks", &captureStacks, sizeof(captureStacks)},
      {"str_arg", strArg, sizeof(strArg)},
      {"str_len_arg", strLenArg, sizeof(strLenArg)},
  };
  AddTargetRodata(config_.target, true, values);
  if (config_.python) values.push_back({"python_enabled", &config_.python, sizeof(config_.python)});
  SetRodata(bpf_.Object(), bpf_.Name(), values);
}

void UsdtSession::Attach() {
  if (bpf_.Attached()) return;
  LibbpfLogCapture log;
  const pid_t pid = config_.pid == 0 ? -1 : static_cast<pid_t>(config_.pid);
  try {
    for (const UsdtProbeSpec& spec : config_.probes) {
      LIBBPF_OPTS(bpf_usdt_opts, opts, .usdt_cookie = spec.probe);
      // libbpf opens the binary by path with a plain open(): a FIFO or device put there since the
      // agent read the probes would block or act. It gets the inode we opened safely instead,
      // through /proc/self/fd (its realpath is still the file's, for the pid's maps).
      SafeOpenResult file = SafeOpenRegular(spec.path);
      if (!file.ok()) throw std::runtime_error("attach usdt " + spec.provider + ":" + spec.name + " in " + spec.path + ": " + file.error);
      std::string held = "/proc/self/fd/" + std::to_string(file.fd.get());
      bpf_link* link =
          bpf_program__attach_usdt(program_, pid, held.c_str(), spec.provider.c_str(), spec.name.c_str(), &opts);
      if (link == nullptr) {
        int err = errno;
        std::string step = "attach usdt " + spec.provider + ":" + spec.name + " in " + spec.path;
        if (config_.pid != 0) step += " for pid " + std::to_string(config_.pid);
        std::string message = LibbpfError(step, err, log);
        // libbpf says ENOENT both for a missing file and for a file without that probe.
        if ((err == ENOENT || err == -ENOENT) && access(spec.path.c_str(), F_OK) == 0) {
          message += "\n" + spec.path + " exists but has no USDT probe " + spec.provider + ":" + spec.name +
                     " (readelf -n lists its probes)";
        }
        throw std::runtime_error(message);
      }
      bpf_.AddLink(link);
    }
  } catch (...) {
    Detach();
    throw;
  }
}

void UsdtSession::Detach() { bpf_.DestroyLinks(); }

int UsdtSession::Poll(int timeoutMs) { return bpf_.Poll(timeoutMs); }

int UsdtSession::Consume() { return bpf_.Consume(); }

UsdtCounters UsdtSession::ReadCounters() const {
  UsdtCounters totals;
  for (uint32_t probe = 0; probe < probeSlots_; probe++) totals.hits.push_back(SumPerCpu(hits_, probe, "hits map of " + bpf_.Name()));
  totals.overBudget = SumPerCpu(counters_, USDT_COUNTER_OVER_BUDGET, "counters map of " + bpf_.Name());
  totals.kernelDrops = SumPerCpu(counters_, USDT_COUNTER_DROPS, "counters map of " + bpf_.Name());
  return totals;
}

int UsdtSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<UsdtSession*>(ctx);
  if (size < sizeof(usdt_event)) return 0;  // cannot happen with a matching object
  const auto* event = static_cast<const usdt_event*>(data);

  UsdtRecord record;
  record.probe = event->probe;
  record.pid = event->pid;
  record.tid = event->tid;
  record.tsNs = event->ts_ns;
  size_t argc = event->argc < 0 ? 0 : std::min<size_t>(static_cast<size_t>(event->argc), USDT_MAX_ARGS);
  record.args.assign(event->args, event->args + argc);
  if (event->probe < USDT_MAX_PROBES && self->hasStr_[event->probe]) {
    if (event->str_len >= 0) {
      record.hasStr = true;
      size_t length = std::min<size_t>(static_cast<size_t>(event->str_len), USDT_STR_LEN - 1);
      record.str.assign(event->str, length);
    } else {
      record.strError = event->str_len;
    }
  }
  if (event->user_stack_bytes < 0) {
    record.userStackError = event->user_stack_bytes;
  } else {
    size_t frames = std::min<size_t>(static_cast<size_t>(event->user_stack_bytes) / sizeof(__u64), TRACEFLEET_MAX_STACK_DEPTH);
    record.userStack.assign(event->user_stack, event->user_stack + frames);
  }
  CopyPythonFrames(*event, record);
  self->queue_.Push(std::move(record));
  return 0;
}

}  // namespace tracefleet
