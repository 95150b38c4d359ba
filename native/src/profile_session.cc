#include "profile_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "libbpf_log.h"
#include "profile_event.h"
#include "rodata.h"

namespace tracefleet {
namespace {

int OpenCpuClock(int cpu, uint32_t frequencyHz) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.freq = 1;
  attr.sample_freq = frequencyHz;
  return static_cast<int>(
      syscall(__NR_perf_event_open, &attr, -1 /* any task */, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace

std::vector<int> OnlineCpus() {
  std::ifstream file("/sys/devices/system/cpu/online");
  std::string text;
  if (!std::getline(file, text)) throw std::runtime_error("read /sys/devices/system/cpu/online: " + std::string(std::strerror(errno)));
  std::vector<int> cpus;
  std::stringstream ranges(text);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    size_t dash = range.find('-');
    int first = std::stoi(range.substr(0, dash));
    int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
    for (int cpu = first; cpu <= last; cpu++) cpus.push_back(cpu);
  }
  return cpus;
}

ProfileSession::ProfileSession(const ProfileConfig& config)
    : config_(config), bpf_(config.objectPath), queue_(config.maxQueuedSamples) {
  program_ = bpf_object__find_program_by_name(bpf_.Object(), "profile");
  events_ = bpf_object__find_map_by_name(bpf_.Object(), "events");
  counters_ = bpf_object__find_map_by_name(bpf_.Object(), "counters");
  if (program_ == nullptr || events_ == nullptr || counters_ == nullptr) {
    throw std::runtime_error(bpf_.Name() + ": not a profile object (needs program 'profile', maps 'events' and 'counters')");
  }
  python_.Find(bpf_.Object(), bpf_.Name(), config_.python);
  targets_.Prepare(bpf_.Object(), bpf_.Name(), config_.target.pidSet);
  SetReadOnlyGlobals();
  UseUnwindMaps(bpf_.Object(), bpf_.Name().c_str(), config_.unwind);
  bpf_.Load(events_, config_.ringBufferBytes, OnEvent, this);
}

// bpf_ destroys the links, then frees the ring buffer and closes the object.
ProfileSession::~ProfileSession() = default;

void ProfileSession::SetReadOnlyGlobals() {
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config_.targetComm.data(), config_.targetComm.size());
  const bool filterComm = !config_.targetComm.empty();
  std::vector<RodataValue> values = {
      {"target_tgid", &config_.targetPid, sizeof(config_.targetPid)},
      {"filter_comm", &filterComm, sizeof(filterComm)},
      {"target_comm", comm, sizeof(comm)},
      {"include_idle", &config_.includeIdle, sizeof(config_.includeIdle)},
  };
  AddTargetRodata(config_.target, true, values);
  // Off by default in the object: only a Python-reading session needs the global.
  if (config_.python) values.push_back({"python_enabled", &config_.python, sizeof(config_.python)});
  SetRodata(bpf_.Object(), bpf_.Name(), values);
}

void ProfileSession::Attach() {
  if (bpf_.Attached()) return;
  LibbpfLogCapture log;
  try {
    for (int cpu : OnlineCpus()) {
      int fd = OpenCpuClock(cpu, config_.frequencyHz);
      if (fd < 0) {
        if (errno == ENODEV) continue;  // went offline since we read the list
        throw std::runtime_error(LibbpfError("open perf_event (software cpu-clock, " + std::to_string(config_.frequencyHz) +
                                                 " Hz) on CPU " + std::to_string(cpu),
                                             errno, log));
      }
      bpf_link* link = bpf_program__attach_perf_event(program_, fd);
      if (link == nullptr) {
        int err = errno;
        close(fd);
        throw std::runtime_error(LibbpfError("attach " + bpf_.Name() + " to perf_event on CPU " + std::to_string(cpu), err, log));
      }
      // From here the link owns fd: bpf_link__destroy disables and closes it.
      bpf_.AddLink(link);
    }
  } catch (...) {
    Detach();
    throw;
  }
}

void ProfileSession::Detach() { bpf_.DestroyLinks(); }

int ProfileSession::Poll(int timeoutMs) { return bpf_.Poll(timeoutMs); }

int ProfileSession::Consume() { return bpf_.Consume(); }

KernelCounters ProfileSession::ReadCounters() const {
  KernelCounters totals;
  const std::string what = "counters map of " + bpf_.Name();
  totals.samplesSeen = SumPerCpu(counters_, PROFILE_COUNTER_SAMPLES, what);
  totals.kernelDrops = SumPerCpu(counters_, PROFILE_COUNTER_DROPS, what);
  return totals;
}

int ProfileSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<ProfileSession*>(ctx);
  if (size < sizeof(profile_event)) return 0;  // cannot happen with a matching object
  const auto* event = static_cast<const profile_event*>(data);

  Sample sample;
  sample.pid = event->pid;
  sample.tid = event->tid;
  sample.cpu = event->cpu;
  sample.comm.assign(event->comm, strnlen(event->comm, TRACEFLEET_COMM_LEN));
  auto frames = [](int32_t bytes, const __u64* stack, std::vector<uint64_t>& out, int32_t& error) {
    if (bytes < 0) {
      error = bytes;
      return;
    }
    size_t count = std::min<size_t>(static_cast<size_t>(bytes) / sizeof(__u64), TRACEFLEET_MAX_STACK_DEPTH);
    out.assign(stack, stack + count);
  };
  frames(event->kernel_stack_bytes, event->kernel_stack, sample.kernelStack, sample.kernelStackError);
  frames(event->user_stack_bytes, event->user_stack, sample.userStack, sample.userStackError);
  CopyPythonFrames(*event, sample);
  if (!self->config_.foldSamples) {
    self->queue_.Push(std::move(sample));
    return 0;
  }
  // A CPU-bound thread repeats a handful of stacks: JS then gets each once per delivery, with a count.
  std::string key = FoldKey(sample);
  self->queue_.PushFolding(std::move(key), std::move(sample), [](Sample& waiting) {
    if (waiting.count == UINT32_MAX) return false;
    waiting.count++;
    return true;
  });
  return 0;
}

}  // namespace tracefleet
