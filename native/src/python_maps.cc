#include "python_maps.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "args.h"
#include "ring_buffer_object.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "tracer.setPythonProcess(pid: integer > 0, layout: Buffer of sizeof(struct py_proc) bytes); "
    "tracer.forgetPythonProcess(pid: integer > 0)";

uint32_t PidArg(const Napi::CallbackInfo& info) {
  return static_cast<uint32_t>(Args(info.Env(), kUsage).IntegerArg(info[0], "pid", 1, UINT32_MAX));
}

}  // namespace

void PythonMaps::Find(bpf_object* object, const std::string& objectName, bool enabled) {
  name_ = objectName;
  procs_ = bpf_object__find_map_by_name(object, "py_procs");
  counters_ = bpf_object__find_map_by_name(object, "py_counters");
  if (enabled && (procs_ == nullptr || counters_ == nullptr)) {
    throw std::runtime_error(objectName + ": cannot read Python frames (needs maps 'py_procs' and 'py_counters')");
  }
  enabled_ = enabled;
}

void PythonMaps::Set(uint32_t pid, const py_proc& proc) {
  if (!enabled_) throw std::runtime_error("this tracer was made without python: true");
  if (bpf_map__update_elem(procs_, &pid, sizeof(pid), &proc, sizeof(proc), BPF_ANY) != 0) {
    throw std::runtime_error("write py_procs entry of pid " + std::to_string(pid) + " in " + name_ + ": " + std::strerror(errno));
  }
}

void PythonMaps::Forget(uint32_t pid) {
  if (enabled_) bpf_map__delete_elem(procs_, &pid, sizeof(pid), 0);  // ENOENT: not there, nothing to do
}

std::vector<uint64_t> PythonMaps::ReadCounters() const {
  std::vector<uint64_t> out(PY_COUNTER_MAX, 0);
  if (counters_ == nullptr) return out;
  for (uint32_t i = 0; i < PY_COUNTER_MAX; i++) out[i] = SumPerCpu(counters_, i, "py_counters map of " + name_);
  return out;
}

Napi::Value SetPythonProcessJs(const Napi::CallbackInfo& info, PythonMaps* maps) {
  uint32_t pid = PidArg(info);
  if (info.Length() < 2 || !info[1].IsBuffer() || info[1].As<Napi::Buffer<uint8_t>>().Length() != sizeof(py_proc)) {
    Args(info.Env(), kUsage).Fail("layout must be a Buffer of " + std::to_string(sizeof(py_proc)) + " bytes");
  }
  if (maps == nullptr) throw Napi::Error::New(info.Env(), "setPythonProcess: the tracer is closed");
  py_proc proc;
  std::memcpy(&proc, info[1].As<Napi::Buffer<uint8_t>>().Data(), sizeof(proc));
  try {
    maps->Set(pid, proc);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value ForgetPythonProcessJs(const Napi::CallbackInfo& info, PythonMaps* maps) {
  uint32_t pid = PidArg(info);
  if (maps != nullptr) maps->Forget(pid);
  return info.Env().Undefined();
}

Napi::Object PythonCountersToJs(Napi::Env env, const std::vector<uint64_t>& counters) {
  static const char* kNames[PY_COUNTER_MAX] = {"stacks", "frames", "noThread", "readFaults", "truncated"};
  Napi::Object py = Napi::Object::New(env);
  for (uint32_t i = 0; i < PY_COUNTER_MAX; i++) py.Set(kNames[i], Napi::BigInt::New(env, i < counters.size() ? counters[i] : 0));
  return py;
}

}  // namespace tracefleet
