#include "runqlat_tracer.h"

#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cstddef>
#include <cstring>

#include "args.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new RunqlatTracer({ objectPath: string, pid?: integer, perCgroup?: boolean, maxTasks?: integer 64..1048576, "
    TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

struct RunqlatTotals {
  std::vector<RunqlatHistogram> hists;
  uint64_t latencies;
  uint64_t noStart;
  uint64_t noHist;
};

}  // namespace

RunqlatSession::RunqlatSession(const RunqlatConfig& config)
    : MapSession(config.objectPath, {"on_wakeup", "on_wakeup_new", "on_switch"}) {
  hists_ = FindMap("hists");
  SetMaxEntries(FindMap("start"), config.maxTasks);
  // One histogram when not per cgroup: no room kept for a thousand.
  if (!config.perCgroup) SetMaxEntries(hists_, 1);
  const __u32 tgid = config.pid;
  const bool perCgroup = config.perCgroup;
  Load({{"target_tgid", &tgid, sizeof(tgid)}, {"per_cgroup", &perCgroup, sizeof(perCgroup)}}, config.target);
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

RunqlatTracer::RunqlatTracer(const Napi::CallbackInfo& info) : MapTracer(info) {
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
  Create(env, config);
}

Napi::Value RunqlatTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RunqlatTotals totals = Reading(env, [](RunqlatSession& session) {
    return RunqlatTotals{session.Read(), session.Counter(RUNQLAT_COUNTER_LATENCIES),
                         session.Counter(RUNQLAT_COUNTER_NO_START), session.Counter(RUNQLAT_COUNTER_NO_HIST)};
  });
  Napi::Array list = Napi::Array::New(env, totals.hists.size());
  for (size_t i = 0; i < totals.hists.size(); i++) {
    const RunqlatHistogram& h = totals.hists[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("cgroupId", Napi::BigInt::New(env, h.cgroupId));
    Napi::Array slots = Napi::Array::New(env, RUNQLAT_SLOTS);
    for (uint32_t s = 0; s < RUNQLAT_SLOTS; s++) slots.Set(s, Napi::BigInt::New(env, h.slots[s]));
    o.Set("slots", slots);
    o.Set("totalNs", Napi::BigInt::New(env, h.totalNs));
    list.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("histograms", list);
  result.Set("latencies", Napi::BigInt::New(env, totals.latencies));
  result.Set("noStart", Napi::BigInt::New(env, totals.noStart));
  result.Set("noHist", Napi::BigInt::New(env, totals.noHist));
  return result;
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
