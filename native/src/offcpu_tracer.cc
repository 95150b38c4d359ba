#include "offcpu_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "args.h"
#include "js_values.h"
#include "libbpf_log.h"
#include "profile_session.h"
#include "ring_buffer_object.h"
#include "rodata.h"
#include "symbol_names.h"
#include "unwinder.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new OffCpuTracer({ objectPath: string, pid?: integer, comm?: string of at most 15 bytes, minBlockNs?: integer "
    "1..3600e9, kernelStacks?: boolean, wallClockHz?: integer 0..1000, maxTasks?: integer 64..1048576, maxStacks?: integer 64..1048576, unwinder?: "
    "Unwinder, " TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

// The frames up to the first zero (the maps hold whole arrays, zero-filled past the walk).
std::vector<uint64_t> Frames(const __u64* ips) {
  size_t n = 0;
  while (n < TRACEFLEET_MAX_STACK_DEPTH && ips[n] != 0) n++;
  return std::vector<uint64_t>(ips, ips + n);
}

int OpenCpuClock(int cpu, uint32_t frequencyHz) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.freq = 1;
  attr.sample_freq = frequencyHz;
  return static_cast<int>(syscall(__NR_perf_event_open, &attr, -1 /* any task */, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace

OffCpuSession::OffCpuSession(const OffCpuConfig& config) : name_(Basename(config.objectPath)), wallClockHz_(config.wallClockHz) {
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(config.objectPath.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + config.objectPath, errno, log));
  try {
    counts_ = bpf_object__find_map_by_name(object_, "counts");
    userStacks_ = bpf_object__find_map_by_name(object_, "user_stacks");
    kernelStacks_ = bpf_object__find_map_by_name(object_, "kernel_stacks");
    counters_ = bpf_object__find_map_by_name(object_, "counters");
    bpf_map* start = bpf_object__find_map_by_name(object_, "start");
    if (counts_ == nullptr || userStacks_ == nullptr || kernelStacks_ == nullptr || counters_ == nullptr || start == nullptr)
      throw std::runtime_error(name_ + ": no start/counts/user_stacks/kernel_stacks/counters map (rebuild it)");
    const __u32 tgid = config.pid;
    char comm[TRACEFLEET_COMM_LEN] = {};
    std::memcpy(comm, config.comm.data(), config.comm.size());
    const bool filterComm = !config.comm.empty();
    const __u64 minBlockNs = config.minBlockNs;
    const bool kernelStacks = config.kernelStacks;
    // Each on-CPU sample stands for one sampling period of CPU time.
    const __u64 onCpuSampleNs = config.wallClockHz ? 1000000000ull / config.wallClockHz : 0;
    std::vector<RodataValue> values = {{"target_tgid", &tgid, sizeof(tgid)},
                                       {"filter_comm", &filterComm, sizeof(filterComm)},
                                       {"target_comm", comm, sizeof(comm)},
                                       {"min_block_ns", &minBlockNs, sizeof(minBlockNs)},
                                       {"take_kernel_stacks", &kernelStacks, sizeof(kernelStacks)},
                                       {"on_cpu_sample_ns", &onCpuSampleNs, sizeof(onCpuSampleNs)}};
    AddTargetRodata(config.target, true, values);
    SetRodata(object_, name_, values);
    targets_.Prepare(object_, name_, config.target.pidSet);
    UseUnwindMaps(object_, name_.c_str(), config.unwind);
    struct Size {
      bpf_map* map;
      uint32_t entries;
    };
    for (const Size& s : {Size{start, config.maxTasks}, Size{counts_, config.maxStacks}, Size{userStacks_, config.maxStacks},
                          Size{kernelStacks_, config.kernelStacks ? config.maxStacks : 1}}) {
      int err = bpf_map__set_max_entries(s.map, s.entries);
      if (err) throw std::runtime_error(LibbpfError(std::string("size the ") + bpf_map__name(s.map) + " map of " + name_, err, log));
    }
    int err = bpf_object__load(object_);
    if (err) throw std::runtime_error(LibbpfError("load " + name_, err, log));
  } catch (...) {
    bpf_object__close(object_);
    throw;
  }
}

OffCpuSession::~OffCpuSession() {
  Detach();
  bpf_object__close(object_);
}

void OffCpuSession::Attach() {
  if (!links_.empty()) return;
  LibbpfLogCapture log;
  bpf_program* program = bpf_object__find_program_by_name(object_, "on_switch");
  bpf_program* sampler = bpf_object__find_program_by_name(object_, "on_cpu_sample");
  if (program == nullptr || sampler == nullptr) throw std::runtime_error(name_ + ": no program on_switch or on_cpu_sample (rebuild it)");
  try {
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      throw std::runtime_error(LibbpfError(std::string("attach ") + bpf_program__section_name(program), errno, log));
    }
    links_.push_back(link);
    if (wallClockHz_ == 0) return;
    for (int cpu : OnlineCpus()) {
      int fd = OpenCpuClock(cpu, wallClockHz_);
      if (fd < 0) {
        if (errno == ENODEV) continue;  // went offline since we read the list
        throw std::runtime_error(LibbpfError("open perf_event (software cpu-clock, " + std::to_string(wallClockHz_) + " Hz) on CPU " + std::to_string(cpu), errno, log));
      }
      link = bpf_program__attach_perf_event(sampler, fd);
      if (link == nullptr) {
        const int err = errno;
        close(fd);
        throw std::runtime_error(LibbpfError("attach " + name_ + " on_cpu_sample to perf_event on CPU " + std::to_string(cpu), err, log));
      }
      // From here the link owns fd: bpf_link__destroy disables and closes it.
      links_.push_back(link);
    }
  } catch (...) {
    Detach();
    throw;
  }
}

void OffCpuSession::Detach() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

void OffCpuSession::Stacks(OffCpuDelta& d) const {
  __u64 ips[TRACEFLEET_MAX_STACK_DEPTH];
  d.userStackError = d.key.user_stack_error;
  if (d.key.user_stack_id != 0) {
    if (bpf_map__lookup_elem(userStacks_, &d.key.user_stack_id, sizeof(d.key.user_stack_id), ips, sizeof(ips), 0) == 0)
      d.userStack = Frames(ips);
    else
      d.userStackError = -errno;
  }
  if (d.key.kernel_stack_id < 0) {
    // -ENOENT: kernel stacks were not asked for; anything else is the helper's error.
    if (d.key.kernel_stack_id != -ENOENT) d.kernelStackError = d.key.kernel_stack_id;
    return;
  }
  const __u32 id = static_cast<__u32>(d.key.kernel_stack_id);
  if (bpf_map__lookup_elem(kernelStacks_, &id, sizeof(id), ips, sizeof(ips), 0) == 0)
    d.kernelStack = Frames(ips);
  else
    d.kernelStackError = -errno;
}

std::vector<OffCpuDelta> OffCpuSession::ReadDeltas() {
  std::vector<OffCpuDelta> out;
  offcpu_key key{};
  offcpu_key next{};
  offcpu_value value{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(counts_, prev, &next, sizeof(next)) == 0) {
    if (bpf_map__lookup_elem(counts_, &next, sizeof(next), &value, sizeof(value), 0) == 0) {
      std::string id(reinterpret_cast<const char*>(&next), sizeof(next));
      offcpu_value& was = seen_[id];
      if (value.blocks != was.blocks || value.total_ns / 1000 != was.total_ns / 1000) {
        OffCpuDelta d;
        d.key = next;
        d.us = value.total_ns / 1000 - was.total_ns / 1000;
        d.blocks = value.blocks - was.blocks;
        Stacks(d);
        out.push_back(std::move(d));
        was = value;
      }
    }
    key = next;
    prev = &key;
  }
  return out;
}

uint64_t OffCpuSession::Counter(uint32_t index) const { return SumPerCpu(counters_, index, name_ + " counters"); }

Napi::Function OffCpuTracer::Define(Napi::Env env) {
  return DefineClass(env, "OffCpuTracer",
                     {InstanceMethod<&OffCpuTracer::Start>("start"), InstanceMethod<&OffCpuTracer::Read>("read"),
                      InstanceMethod<&OffCpuTracer::Stats>("stats"), InstanceMethod<&OffCpuTracer::Stop>("stop"),
                      InstanceMethod<&OffCpuTracer::Close>("close"),
                      InstanceMethod<&OffCpuTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&OffCpuTracer::RemoveTargetPid>("removeTargetPid")});
}

OffCpuTracer::OffCpuTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OffCpuTracer>(info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  if (!info.IsConstructCall()) args.Fail("OffCpuTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "comm", "minBlockNs", "kernelStacks", "wallClockHz", "maxTasks", "maxStacks", "unwinder",
                                "targetCgroup", "targetPids"});
  OffCpuConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 1, INT32_MAX, false, 0));
  config.comm = args.Comm(opts, "comm");
  config.minBlockNs = args.Integer(opts, "minBlockNs", 1, 3600ull * 1000000000ull, false, OFFCPU_DEFAULT_MIN_BLOCK_NS);
  config.kernelStacks = args.Boolean(opts, "kernelStacks", true);
  config.wallClockHz = static_cast<uint32_t>(args.Integer(opts, "wallClockHz", 0, 1000, false, 0));
  config.maxTasks = static_cast<uint32_t>(args.Integer(opts, "maxTasks", 64, 1u << 20, false, OFFCPU_DEFAULT_MAX_TASKS));
  config.maxStacks = static_cast<uint32_t>(args.Integer(opts, "maxStacks", 64, 1u << 20, false, OFFCPU_DEFAULT_MAX_STACKS));
  config.unwind = Unwinder::FdsOf(env, opts.Get("unwinder"), kUsage);
  config.target = TargetOptions(args, opts, true);
  try {
    session_ = std::make_unique<OffCpuSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

OffCpuSession& OffCpuTracer::Open(Napi::Env env, const char* method) {
  if (!session_) throw Napi::Error::New(env, std::string("OffCpuTracer.") + method + "(): the tracer is closed");
  return *session_;
}

Napi::Value OffCpuTracer::Start(const Napi::CallbackInfo& info) {
  OffCpuSession& session = Open(info.Env(), "start");
  try {
    session.Attach();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("OffCpuTracer.start(): ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value OffCpuTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OffCpuSession& session = Open(env, "read");
  std::vector<OffCpuDelta> deltas;
  try {
    deltas = session.ReadDeltas();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("OffCpuTracer.read(): ") + e.what());
  }
  Napi::Array list = Napi::Array::New(env, deltas.size());
  for (size_t i = 0; i < deltas.size(); i++) {
    const OffCpuDelta& d = deltas[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", d.key.tgid);
    o.Set("tid", d.key.tid);
    o.Set("onCpu", d.key.on_cpu != 0);
    o.Set("comm", std::string(d.key.comm, strnlen(d.key.comm, TRACEFLEET_COMM_LEN)));
    o.Set("us", static_cast<double>(d.us));
    o.Set("blocks", static_cast<double>(d.blocks));
    o.Set("userStack", Addresses(env, d.userStack));
    o.Set("kernelStack", Addresses(env, d.kernelStack));
    o.Set("userStackError", d.userStackError);
    o.Set("kernelStackError", d.kernelStackError);
    list.Set(static_cast<uint32_t>(i), o);
  }
  return list;
}

Napi::Value OffCpuTracer::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OffCpuSession& session = Open(env, "stats");
  Napi::Object o = Napi::Object::New(env);
  try {
    o.Set("blocks", Napi::BigInt::New(env, session.Counter(OFFCPU_COUNTER_BLOCKS)));
    o.Set("short", Napi::BigInt::New(env, session.Counter(OFFCPU_COUNTER_SHORT)));
    o.Set("noStart", Napi::BigInt::New(env, session.Counter(OFFCPU_COUNTER_NO_START)));
    o.Set("noCount", Napi::BigInt::New(env, session.Counter(OFFCPU_COUNTER_NO_COUNT)));
    o.Set("noUserStack", Napi::BigInt::New(env, session.Counter(OFFCPU_COUNTER_NO_USER_STACK)));
    o.Set("unwind", UnwindCountersToJs(env, session.ReadUnwind()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("OffCpuTracer.stats(): ") + e.what());
  }
  return o;
}

Napi::Value OffCpuTracer::Stop(const Napi::CallbackInfo& info) {
  Open(info.Env(), "stop").Detach();
  return info.Env().Undefined();
}

Napi::Value OffCpuTracer::Close(const Napi::CallbackInfo& info) {
  session_.reset();
  return info.Env().Undefined();
}

Napi::Value OffCpuTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "OffCpuTracer");
}

Napi::Value OffCpuTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "OffCpuTracer");
}

Napi::Value OffCpuLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("keySize", static_cast<uint32_t>(sizeof(offcpu_key)));
  layout.Set("valueSize", static_cast<uint32_t>(sizeof(offcpu_value)));
  layout.Set("startSize", static_cast<uint32_t>(sizeof(offcpu_start)));
  layout.Set("commOffset", static_cast<uint32_t>(offsetof(offcpu_key, comm)));
  layout.Set("tgidOffset", static_cast<uint32_t>(offsetof(offcpu_key, tgid)));
  layout.Set("OFFCPU_DEFAULT_MAX_TASKS", OFFCPU_DEFAULT_MAX_TASKS);
  layout.Set("OFFCPU_DEFAULT_MAX_STACKS", OFFCPU_DEFAULT_MAX_STACKS);
  layout.Set("OFFCPU_DEFAULT_MIN_BLOCK_NS", OFFCPU_DEFAULT_MIN_BLOCK_NS);
  layout.Set("OFFCPU_COUNTER_MAX", OFFCPU_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
