#include "usdt_tracer.h"

#include <cstddef>
#include <stdexcept>
#include <string>

#include "args.h"
#include "unwinder.h"
#include "js_values.h"
#include "usdt_event.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new UsdtTracer({ objectPath: string, pid?: integer (0 = every process that maps the file), "
    "probes: Array of 1..64 { path: string, provider: string, name: string, probe: integer 0..63, "
    "strArg?: integer 0..11, strLenArg?: integer 0..11 }, maxEvents: integer 0..10000000, captureStacks?: boolean, "
    "ringBufferBytes?: power of two >= 4096, maxQueuedEvents?: integer >= 1, unwinder?: Unwinder, python?: boolean, "
    TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE ", onEvents: (events: UsdtRawEvent[]) => void })";
constexpr uint64_t kMaxEvents = 10'000'000;

UsdtProbeSpec ProbeSpec(const Args& args, const Napi::Value& value, uint32_t index) {
  const std::string where = "option probes[" + std::to_string(index) + "]";
  Napi::Object entry = args.Object(value, where.c_str());
  args.RejectUnknownKeys(entry, {"path", "provider", "name", "probe", "strArg", "strLenArg"},
                         "probes[" + std::to_string(index) + "].");
  UsdtProbeSpec spec;
  auto text = [&](const char* key) {
    std::string s = args.StringArg(entry.Get(key), where + "." + key);
    if (s.empty()) args.Fail(where + "." + key + " must not be empty");
    return s;
  };
  spec.path = text("path");
  spec.provider = text("provider");
  spec.name = text("name");
  spec.probe = static_cast<uint32_t>(args.IntegerArg(entry.Get("probe"), (where + ".probe").c_str(), 0, USDT_MAX_PROBES - 1));
  auto argIndex = [&](const char* key) {
    Napi::Value v = entry.Get(key);
    if (v.IsUndefined()) return kNoArg;
    return static_cast<int>(args.IntegerArg(v, (where + "." + key).c_str(), 0, USDT_MAX_ARGS - 1));
  };
  spec.strArg = argIndex("strArg");
  spec.strLenArg = argIndex("strLenArg");
  if (spec.strLenArg != kNoArg && spec.strArg == kNoArg) args.Fail(where + ".strLenArg needs strArg (the pointer argument)");
  if (spec.strLenArg != kNoArg && spec.strLenArg == spec.strArg) args.Fail(where + ".strLenArg must differ from strArg");
  return spec;
}

Napi::Array EventsToJs(Napi::Env env, const std::vector<UsdtRecord>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const UsdtRecord& r = batch[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("probe", r.probe);
    o.Set("pid", r.pid);
    o.Set("tid", r.tid);
    o.Set("tsNs", Napi::BigInt::New(env, r.tsNs));
    o.Set("args", SignedValues(env, r.args.data(), r.args.size()));
    if (r.hasStr) o.Set("str", Napi::String::New(env, r.str));
    if (r.strError != 0) o.Set("strError", r.strError);
    o.Set("userStack", Addresses(env, r.userStack));
    o.Set("userStackError", r.userStackError);
    o.Set("pyFrames", Addresses(env, r.pyFrames));
    o.Set("pyStatus", r.pyStatus);
    o.Set("pyTruncated", r.pyTruncated);
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function UsdtTracer::Define(Napi::Env env) {
  return DefineClass(env, "UsdtTracer",
                     {InstanceMethod<&UsdtTracer::Start>("start"), InstanceMethod<&UsdtTracer::Stop>("stop"),
                      InstanceMethod<&UsdtTracer::Stats>("stats"), InstanceMethod<&UsdtTracer::Close>("close"),
                      InstanceMethod<&UsdtTracer::SetPythonProcess>("setPythonProcess"),
                      InstanceMethod<&UsdtTracer::ForgetPythonProcess>("forgetPythonProcess"),
                      InstanceMethod<&UsdtTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&UsdtTracer::RemoveTargetPid>("removeTargetPid")});
}

UsdtTracer::UsdtTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UsdtTracer>(info), EventStream("UsdtTracer") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("UsdtTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "probes", "maxEvents", "captureStacks", "ringBufferBytes",
                                "maxQueuedEvents", "unwinder", "python", "targetCgroup", "targetPids", "onEvents"});
  UsdtConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 0, INT32_MAX, false, 0));

  Napi::Array probes = args.Array(opts, "probes", 1, USDT_MAX_PROBES);
  std::vector<int> firstWithIndex(USDT_MAX_PROBES, -1);
  for (uint32_t i = 0; i < probes.Length(); i++) {
    UsdtProbeSpec spec = ProbeSpec(args, probes.Get(i), i);
    // Several attachments may share an index (one probe in two binaries); the string
    // settings are per index in the kernel, so they must agree.
    int first = firstWithIndex[spec.probe];
    if (first < 0) {
      firstWithIndex[spec.probe] = static_cast<int>(config.probes.size());
    } else if (config.probes[first].strArg != spec.strArg || config.probes[first].strLenArg != spec.strLenArg) {
      args.Fail("option probes[" + std::to_string(i) + "] shares probe index " + std::to_string(spec.probe) + " with probes[" +
                std::to_string(first) + "] but not its strArg/strLenArg");
    }
    config.probes.push_back(std::move(spec));
  }
  config.maxEvents = args.Integer(opts, "maxEvents", 0, kMaxEvents, true, 0);
  config.captureStacks = args.Boolean(opts, "captureStacks", false);
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 4u << 20);
  config.maxQueuedEvents = args.Integer(opts, "maxQueuedEvents", 1, 1u << 24, false, 65536);
  config.unwind = Unwinder::FdsOf(info.Env(), opts.Get("unwinder"), kUsage);
  config.python = args.Boolean(opts, "python", false);
  config.target = TargetOptions(args, opts, true);
  Napi::Function onEvents = args.Function(opts, "onEvents");

  std::unique_ptr<UsdtSession> session;
  try {
    session = std::make_unique<UsdtSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  Open(std::move(session), onEvents);
}

Napi::Value UsdtTracer::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<UsdtRecord> batch;
  count = session_->Queue().PopBatch(batch, max);
  return EventsToJs(env, batch);
}

UsdtTracerStats UsdtTracer::CurrentStats() const {
  if (Closed()) return finalStats_;
  UsdtTracerStats stats;
  UsdtCounters counters = session_->ReadCounters();
  stats.hits = std::move(counters.hits);
  stats.overBudget = counters.overBudget;
  stats.kernelDrops = counters.kernelDrops;
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.unwind = session_->ReadUnwind();
  stats.python = session_->Python().ReadCounters();
  stats.ring = session_->Ring();
  return stats;
}

void UsdtTracer::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    // Counters unreadable: keep what the queue and delivery counts know.
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object UsdtTracer::StatsToJs(Napi::Env env) {
  UsdtTracerStats stats = CurrentStats();
  Napi::Array hits = Napi::Array::New(env, stats.hits.size());
  for (size_t i = 0; i < stats.hits.size(); i++) hits.Set(static_cast<uint32_t>(i), Napi::BigInt::New(env, stats.hits[i]));
  Napi::Object o = Napi::Object::New(env);
  o.Set("hits", hits);
  o.Set("overBudget", Napi::BigInt::New(env, stats.overBudget));
  o.Set("kernelDrops", Napi::BigInt::New(env, stats.kernelDrops));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  o.Set("unwind", UnwindCountersToJs(env, stats.unwind));
  o.Set("python", PythonCountersToJs(env, stats.python));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

Napi::Value UsdtTracer::SetPythonProcess(const Napi::CallbackInfo& info) {
  return SetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value UsdtTracer::ForgetPythonProcess(const Napi::CallbackInfo& info) {
  return ForgetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value UsdtTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "UsdtTracer");
}

Napi::Value UsdtTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "UsdtTracer");
}

Napi::Value UsdtLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(usdt_event, field)))
  OFFSET(ts_ns);
  OFFSET(probe);
  OFFSET(pid);
  OFFSET(tid);
  OFFSET(argc);
  OFFSET(args);
  OFFSET(str_len);
  OFFSET(user_stack_bytes);
  OFFSET(str);
  OFFSET(user_stack);
  OFFSET(py_frames_count);
  OFFSET(py_truncated);
  OFFSET(pad);
  OFFSET(py_frames);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(usdt_event)));
  layout.Set("offsets", offsets);
  layout.Set("USDT_MAX_PROBES", USDT_MAX_PROBES);
  layout.Set("USDT_MAX_ARGS", USDT_MAX_ARGS);
  layout.Set("USDT_STR_LEN", USDT_STR_LEN);
  layout.Set("USDT_NO_ARG", USDT_NO_ARG);
  layout.Set("USDT_COUNTER_OVER_BUDGET", USDT_COUNTER_OVER_BUDGET);
  layout.Set("USDT_COUNTER_DROPS", USDT_COUNTER_DROPS);
  layout.Set("USDT_COUNTER_MAX", USDT_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
