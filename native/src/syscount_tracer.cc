#include "syscount_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstddef>
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "args.h"
#include "libbpf_log.h"
#include "ring_buffer_object.h"
#include "rodata.h"
#include "symbol_names.h"

#include "syscount/syscount.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new SyscountTracer({ objectPath: string, pid?: integer, comm?: string (1..15 bytes, not with pid), "
    "maxKeys?: integer 1..1048576, " TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

}  // namespace

SyscountSession::SyscountSession(const SyscountConfig& config) : name_(Basename(config.objectPath)) {
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(config.objectPath.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + config.objectPath, errno, log));
  try {
    counts_ = bpf_object__find_map_by_name(object_, "counts");
    counters_ = bpf_object__find_map_by_name(object_, "counters");
    if (counts_ == nullptr || counters_ == nullptr) throw std::runtime_error(name_ + ": no counts/counters map (rebuild it)");
    const __u32 tgid = config.pid;
    const bool filterComm = !config.comm.empty();
    char comm[TRACEFLEET_COMM_LEN] = {};
    std::memcpy(comm, config.comm.data(), std::min<size_t>(config.comm.size(), TRACEFLEET_COMM_LEN - 1));
    std::vector<RodataValue> values = {{"target_tgid", &tgid, sizeof(tgid)},
                                       {"filter_comm", &filterComm, sizeof(filterComm)},
                                       {"target_comm", comm, sizeof(comm)}};
    AddTargetRodata(config.target, true, values);
    SetRodata(object_, name_, values);
    targets_.Prepare(object_, name_, config.target.pidSet);
    int err = bpf_map__set_max_entries(counts_, config.maxKeys);
    if (err) throw std::runtime_error(LibbpfError("size the counts map of " + name_, err, log));
    err = bpf_object__load(object_);
    if (err) throw std::runtime_error(LibbpfError("load " + name_, err, log));
  } catch (...) {
    bpf_object__close(object_);
    throw;
  }
}

SyscountSession::~SyscountSession() {
  Detach();
  bpf_object__close(object_);
}

void SyscountSession::Attach() {
  if (link_ != nullptr) return;
  LibbpfLogCapture log;
  bpf_program* program = bpf_object__find_program_by_name(object_, "on_sys_enter");
  if (program == nullptr) throw std::runtime_error(name_ + ": no program on_sys_enter (rebuild it)");
  link_ = bpf_program__attach_tracepoint(program, "raw_syscalls", "sys_enter");
  if (link_ == nullptr) throw std::runtime_error(LibbpfError("attach tracepoint raw_syscalls/sys_enter", errno, log));
}

void SyscountSession::Detach() {
  if (link_ != nullptr) bpf_link__destroy(link_);
  link_ = nullptr;
}

std::vector<SyscountEntry> SyscountSession::Read() const {
  std::vector<SyscountEntry> out;
  syscount_key key{};
  syscount_key next{};
  syscount_value value{};
  const void* prev = nullptr;
  // Iterating a hash map others insert into may see a key twice or miss one inserted meanwhile; the
  // run reads after detaching for its final figures, so those are whole.
  while (bpf_map__get_next_key(counts_, prev, &next, sizeof(next)) == 0) {
    if (bpf_map__lookup_elem(counts_, &next, sizeof(next), &value, sizeof(value), 0) == 0) {
      size_t len = strnlen(value.comm, TRACEFLEET_COMM_LEN);
      out.push_back({next.tgid, next.nr, value.count, std::string(value.comm, len)});
    }
    key = next;
    prev = &key;
  }
  return out;
}

uint64_t SyscountSession::Counter(uint32_t index) const { return SumPerCpu(counters_, index, name_ + " counters"); }

Napi::Function SyscountTracer::Define(Napi::Env env) {
  return DefineClass(env, "SyscountTracer",
                     {InstanceMethod<&SyscountTracer::Start>("start"), InstanceMethod<&SyscountTracer::Read>("read"),
                      InstanceMethod<&SyscountTracer::Stop>("stop"), InstanceMethod<&SyscountTracer::Close>("close"),
                      InstanceMethod<&SyscountTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&SyscountTracer::RemoveTargetPid>("removeTargetPid")});
}

SyscountTracer::SyscountTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SyscountTracer>(info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  if (!info.IsConstructCall()) args.Fail("SyscountTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "comm", "maxKeys", "targetCgroup", "targetPids"});
  SyscountConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 1, INT32_MAX, false, 0));
  config.comm = args.Comm(opts, "comm");
  if (config.pid != 0 && !config.comm.empty()) args.Fail("options pid and comm exclude each other");
  config.maxKeys = static_cast<uint32_t>(args.Integer(opts, "maxKeys", 1, 1u << 20, false, SYSCOUNT_DEFAULT_MAX_KEYS));
  config.target = TargetOptions(args, opts, true);
  try {
    session_ = std::make_unique<SyscountSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

SyscountSession& SyscountTracer::Open(Napi::Env env, const char* method) {
  if (!session_) throw Napi::Error::New(env, std::string("SyscountTracer.") + method + "(): the tracer is closed");
  return *session_;
}

Napi::Value SyscountTracer::Start(const Napi::CallbackInfo& info) {
  SyscountSession& session = Open(info.Env(), "start");
  try {
    session.Attach();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("SyscountTracer.start(): ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value SyscountTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SyscountSession& session = Open(env, "read");
  std::vector<SyscountEntry> entries;
  uint64_t calls = 0;
  uint64_t uncounted = 0;
  try {
    entries = session.Read();
    calls = session.Counter(SYSCOUNT_COUNTER_CALLS);
    uncounted = session.Counter(SYSCOUNT_COUNTER_UNCOUNTED);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("SyscountTracer.read(): ") + e.what());
  }
  Napi::Array list = Napi::Array::New(env, entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", entries[i].pid);
    o.Set("nr", entries[i].nr);
    o.Set("comm", entries[i].comm);
    o.Set("count", Napi::BigInt::New(env, entries[i].count));
    list.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("entries", list);
  result.Set("calls", Napi::BigInt::New(env, calls));
  result.Set("uncounted", Napi::BigInt::New(env, uncounted));
  return result;
}

Napi::Value SyscountTracer::Stop(const Napi::CallbackInfo& info) {
  Open(info.Env(), "stop").Detach();
  return info.Env().Undefined();
}

Napi::Value SyscountTracer::Close(const Napi::CallbackInfo& info) {
  session_.reset();
  return info.Env().Undefined();
}

Napi::Value SyscountTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "SyscountTracer");
}

Napi::Value SyscountTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, session_.get() ? &session_->Targets() : nullptr, "SyscountTracer");
}

Napi::Value SyscountLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("keySize", static_cast<uint32_t>(sizeof(syscount_key)));
  layout.Set("valueSize", static_cast<uint32_t>(sizeof(syscount_value)));
  layout.Set("countOffset", static_cast<uint32_t>(offsetof(syscount_value, count)));
  layout.Set("commOffset", static_cast<uint32_t>(offsetof(syscount_value, comm)));
  layout.Set("SYSCOUNT_DEFAULT_MAX_KEYS", SYSCOUNT_DEFAULT_MAX_KEYS);
  layout.Set("SYSCOUNT_COUNTER_MAX", SYSCOUNT_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
