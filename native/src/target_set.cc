#include "target_set.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "limits.h"

namespace tracefleet {
namespace {

constexpr const char* kPidUsage = "tracer.addTargetPid(pid: integer > 0); tracer.removeTargetPid(pid: integer > 0)";
constexpr uint32_t kMaxCgroupLevel = 1000;
constexpr uint64_t kMaxSafeInteger = (1ull << 53) - 1;

uint64_t CgroupId(const Args& args, const Napi::Value& value) {
  const char* name = "option targetCgroup.id";
  if (value.IsBigInt()) {
    uint64_t id = args.BigIntArg(value, name);
    if (id == 0) args.Fail(std::string(name) + " must be a cgroup id > 0, got 0n");
    return id;
  }
  if (!value.IsNumber()) args.Fail(std::string(name) + " must be a bigint or an integer, got " + Describe(value));
  return args.IntegerArg(value, name, 1, kMaxSafeInteger);
}

// Checks in the order every tracer method does: the argument, then the tracer's state.
TargetPids& Usable(const Napi::CallbackInfo& info, TargetPids* pids, const char* tracer, const char* method, uint32_t& pid) {
  pid = static_cast<uint32_t>(Args(info.Env(), kPidUsage).IntegerArg(info[0], "pid", 1, INT32_MAX));
  const std::string where = std::string(tracer) + "." + method + "(): ";
  if (pids == nullptr) throw Napi::Error::New(info.Env(), where + "the tracer is closed");
  if (!pids->Enabled()) throw Napi::Error::New(info.Env(), where + "this " + tracer + " was made without targetPids: true");
  return *pids;
}

}  // namespace

TargetConfig TargetOptions(const Args& args, const Napi::Object& opts, bool withPidSet) {
  TargetConfig config;
  Napi::Value cgroup = opts.Get("targetCgroup");
  if (!cgroup.IsUndefined()) {
    Napi::Object target = args.Object(cgroup, "option targetCgroup");
    args.RejectUnknownKeys(target, {"id", "level"}, "targetCgroup.");
    config.cgroupId = CgroupId(args, target.Get("id"));
    config.cgroupLevel = static_cast<uint32_t>(args.IntegerArg(target.Get("level"), "option targetCgroup.level", 0, kMaxCgroupLevel));
  }
  if (withPidSet) config.pidSet = args.Boolean(opts, "targetPids", false);
  return config;
}

void AddTargetRodata(const TargetConfig& config, bool withPidSet, std::vector<RodataValue>& values) {
  values.push_back({"target_cgroup_id", &config.cgroupId, sizeof(config.cgroupId)});
  values.push_back({"target_cgroup_level", &config.cgroupLevel, sizeof(config.cgroupLevel)});
  if (withPidSet) values.push_back({"filter_target_pids", &config.pidSet, sizeof(config.pidSet)});
}

void TargetPids::Prepare(bpf_object* object, const std::string& objectName, bool enabled) {
  name_ = objectName;
  map_ = bpf_object__find_map_by_name(object, "target_pids");
  if (map_ == nullptr) throw std::runtime_error(objectName + ": no map 'target_pids' (built without target.bpf.h?)");
  if (!enabled) {
    int err = bpf_map__set_max_entries(map_, 1);
    if (err) throw std::runtime_error("size the target_pids map of " + objectName + ": " + std::strerror(-err));
  }
  enabled_ = enabled;
}

void TargetPids::Add(uint32_t pid) {
  if (!enabled_) throw std::runtime_error(name_ + " was loaded without targetPids: true");
  const uint8_t one = 1;
  int err = bpf_map__update_elem(map_, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
  if (err == -E2BIG) {
    throw std::runtime_error("add pid " + std::to_string(pid) + " to the target pids of " + name_ + ": the set is full (" +
                             std::to_string(TRACEFLEET_MAX_TARGET_PIDS) + " pids, TRACEFLEET_MAX_TARGET_PIDS)");
  }
  if (err) throw std::runtime_error("add pid " + std::to_string(pid) + " to the target pids of " + name_ + ": " + std::strerror(-err));
}

void TargetPids::Remove(uint32_t pid) {
  if (!enabled_) throw std::runtime_error(name_ + " was loaded without targetPids: true");
  int err = bpf_map__delete_elem(map_, &pid, sizeof(pid), 0);
  if (err && err != -ENOENT) {
    throw std::runtime_error("remove pid " + std::to_string(pid) + " from the target pids of " + name_ + ": " + std::strerror(-err));
  }
}

Napi::Value AddTargetPidJs(const Napi::CallbackInfo& info, TargetPids* pids, const char* tracer) {
  uint32_t pid = 0;
  TargetPids& set = Usable(info, pids, tracer, "addTargetPid", pid);
  try {
    set.Add(pid);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(tracer) + ".addTargetPid(): " + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value RemoveTargetPidJs(const Napi::CallbackInfo& info, TargetPids* pids, const char* tracer) {
  uint32_t pid = 0;
  TargetPids& set = Usable(info, pids, tracer, "removeTargetPid", pid);
  try {
    set.Remove(pid);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(tracer) + ".removeTargetPid(): " + e.what());
  }
  return info.Env().Undefined();
}

}  // namespace tracefleet
