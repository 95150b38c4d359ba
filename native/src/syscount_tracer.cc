#include "syscount_tracer.h"

#include <bpf/libbpf.h>
#include <linux/types.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "args.h"

#include "syscount/syscount.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new SyscountTracer({ objectPath: string, pid?: integer, comm?: string (1..15 bytes, not with pid), "
    "maxKeys?: integer 1..1048576, " TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

struct SyscountTotals {
  std::vector<SyscountEntry> entries;
  uint64_t calls;
  uint64_t uncounted;
};

}  // namespace

SyscountSession::SyscountSession(const SyscountConfig& config) : MapSession(config.objectPath, {"on_sys_enter"}) {
  counts_ = FindMap("counts");
  const __u32 tgid = config.pid;
  const bool filterComm = !config.comm.empty();
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config.comm.data(), std::min<size_t>(config.comm.size(), TRACEFLEET_COMM_LEN - 1));
  SetMaxEntries(counts_, config.maxKeys);
  Load({{"target_tgid", &tgid, sizeof(tgid)}, {"filter_comm", &filterComm, sizeof(filterComm)}, {"target_comm", comm, sizeof(comm)}},
       config.target);
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

SyscountTracer::SyscountTracer(const Napi::CallbackInfo& info) : MapTracer(info) {
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
  Create(env, config);
}

Napi::Value SyscountTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SyscountTotals totals = Reading(env, [](SyscountSession& session) {
    return SyscountTotals{session.Read(), session.Counter(SYSCOUNT_COUNTER_CALLS), session.Counter(SYSCOUNT_COUNTER_UNCOUNTED)};
  });
  const std::vector<SyscountEntry>& entries = totals.entries;
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
  result.Set("calls", Napi::BigInt::New(env, totals.calls));
  result.Set("uncounted", Napi::BigInt::New(env, totals.uncounted));
  return result;
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
