#include "runqlat_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "args.h"
#include "libbpf_log.h"
#include "ring_buffer_object.h"
#include "rodata.h"
#include "symbol_names.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new RunqlatTracer({ objectPath: string, pid?: integer, perCgroup?: boolean, maxTasks?: integer 64..1048576, "
    TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

constexpr const char* kPrograms[] = {"on_wakeup", "on_wakeup_new", "on_switch"};

}  // namespace

RunqlatSession::RunqlatSession(const RunqlatConfig& config) : name_(Basename(config.objectPath)) {
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(config.objectPath.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + config.objectPath, errno, log));
  try {
    hists_ = bpf_object__find_map_by_name(object_, "hists");
    counters_ = bpf_object__find_map_by_name(object_, "counters");
    bpf_map* start = bpf_object__find_map_by_name(object_, "start");
    if (hists_ == nullptr || counters_ == nullptr || start == nullptr)
      throw std::runtime_error(name_ + ": no start/hists/counters map (rebuild it)");
    const __u32 tgid = config.pid;
    const bool perCgroup = config.perCgroup;
    std::vector<RodataValue> values = {{"target_tgid", &tgid, sizeof(tgid)}, {"per_cgroup", &perCgroup, sizeof(perCgroup)}};
    AddTargetRodata(config.target, true, values);
    SetRodata(object_, name_, values);
    targets_.Prepare(object_, name_, config.target.pidSet);
    int err = bpf_map__set_max_entries(start, config.maxTasks);
    if (err) throw std::runtime_error(LibbpfError("size the start map of " + name_, err, log));
    // One histogram when not per cgroup: no room kept for a thousand.
    if (!config.perCgroup) {
      err = bpf_map__set_max_entries(hists_, 1);
      if (err) throw std::runtime_error(LibbpfError("size the hists map of " + name_, err, log));
    }
    err = bpf_object__load(object_);
    if (err) throw std::runtime_error(LibbpfError("load " + name_, err, log));
  } catch (...) {
    bpf_object__close(object_);
    throw;
  }
}

RunqlatSession::~RunqlatSession() {
  Detach();
  bpf_object__close(object_);
}

void RunqlatSession::Attach() {
  if (!links_.empty()) return;
  LibbpfLogCapture log;
  for (const char* name : kPrograms) {
    bpf_program* program = bpf_object__find_program_by_name(object_, name);
    if (program == nullptr) {
      Detach();
      throw std::runtime_error(name_ + ": no program " + name + " (rebuild it)");
    }
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      const int err = errno;
      Detach();
      throw std::runtime_error(LibbpfError(std::string("attach ") + bpf_program__section_name(program), err, log));
    }
    links_.push_back(link);
  }
}

void RunqlatSession::Detach() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

std::vector<RunqlatHistogram> RunqlatSession::Read() const {
  std::vector<RunqlatHistogram> out;
  runqlat_key key{};
  runqlat_key next{};
  runqlat_hist value{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(hists_, prev, &next, sizeof(next)) == 0) {
    if (bpf_map__lookup_elem(hists_, &next, sizeof(next), &value, sizeof(value), 0) == 0) {
      RunqlatHistogram h{};
      h.cgroupId = next.cgroup_id;
      std::memcpy(h.slots, value.slots, sizeof(h.slots));
      h.totalNs = value.total_ns;
      out.push_back(h);
    }
    key = next;
    prev = &key;
  }
  return out;
}

uint64_t RunqlatSession::Counter(uint32_t index) const { return SumPerCpu(counters_, index, name_ + " counters"); }

Napi::Function RunqlatTracer::Define(Napi::Env env) {
  return DefineClass(env, "RunqlatTracer",
                     {InstanceMethod<&RunqlatTracer::Start>("start"), InstanceMethod<&RunqlatTracer::Read>("read"),
                      InstanceMethod<&RunqlatTracer::Stop>("stop"), InstanceMethod<&RunqlatTracer::Close>("close"),
                      InstanceMethod<&RunqlatTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&RunqlatTracer::RemoveTargetPid>("removeTargetPid")});
}

RunqlatTracer::RunqlatTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RunqlatTracer>(info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  if (!info.IsConstructCall()) args.Fail("RunqlatTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "perCgroup", "maxTasks", "targetCgroup", "targetPids"});
  RunqlatConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 1, INT32_MAX, false, 0));
  config.perCgroup = args.Boolean(opts, "perCgroup", false);
  config.maxTasks = static_cast<uint32_t>(args.Integer(opts, "maxTasks", 64, 1u << 20, false, RUNQLAT_DEFAULT_MAX_TASKS));
  config.target = TargetOptions(args, opts, true);
  try {
    session_ = std::make_unique<RunqlatSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

RunqlatSession& RunqlatTracer::Open(Napi::Env env, const char* method) {
  if (!session_) throw Napi::Error::New(env, std::string("RunqlatTracer.") + method + "(): the tracer is closed");
  return *session_;
}

Napi::Value RunqlatTracer::Start(const Napi::CallbackInfo& info) {
  RunqlatSession& session = Open(info.Env(), "start");
  try {
    session.Attach();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("RunqlatTracer.start(): ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value RunqlatTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RunqlatSession& session = Open(env, "read");
  std::vector<RunqlatHistogram> hists;
  uint64_t latencies = 0, noStart = 0, noHist = 0;
  try {
    hists = session.Read();
    latencies = session.Counter(RUNQLAT_COUNTER_LATENCIES);
    noStart = session.Counter(RUNQLAT_COUNTER_NO_START);
    noHist = session.Counter(RUNQLAT_COUNTER_NO_HIST);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("RunqlatTracer.read(): ") + e.what());
  }
  Napi::Array list = Napi::Array::New(env, hists.size());
  for (size_t i = 0; i < hists.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("cgroupId", Napi::BigInt::New(env, hists[i].cgroupId));
    Napi::Array slots = Napi::Array::New(env, RUNQLAT_SLOTS);
    for (uint32_t s = 0; s < RUNQLAT_SLOTS; s++) slots.Set(s, Napi::BigInt::New(env, hists[i].slots[s]));
    o.Set("slots", slots);
    o.Set("totalNs", Napi::BigInt::New(env, hists[i].totalNs));
    list.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("histograms", list);
  result.Set("latencies", Napi::BigInt::New(env, latencies));
  result.Set("noStart", Napi::BigInt::New(env, noStart));
  result.Set("noHist", Napi::BigInt::New(env, noHist));
  return result;
}

Napi::Value RunqlatTracer::Stop(const Napi::CallbackInfo& info) {
  Open(info.Env(), "stop").Detach();
  return info.Env().Undefined();
}

Napi::Value RunqlatTracer::Close(const Napi::CallbackInfo& info) {
  session_.reset();
  return info.Env().Undefined();
}

Napi::Value RunqlatTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "RunqlatTracer");
}

Napi::Value RunqlatTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "RunqlatTracer");
}

Napi::Value RunqlatLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("keySize", static_cast<uint32_t>(sizeof(runqlat_key)));
  layout.Set("histSize", static_cast<uint32_t>(sizeof(runqlat_hist)));
  layout.Set("totalNsOffset", static_cast<uint32_t>(offsetof(runqlat_hist, total_ns)));
  layout.Set("RUNQLAT_SLOTS", RUNQLAT_SLOTS);
  layout.Set("RUNQLAT_DEFAULT_MAX_TASKS", RUNQLAT_DEFAULT_MAX_TASKS);
  layout.Set("RUNQLAT_MAX_HISTS", RUNQLAT_MAX_HISTS);
  layout.Set("RUNQLAT_COUNTER_MAX", RUNQLAT_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
