#include "oomkill_tracer.h"

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "args.h"
#include "js_values.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new OomkillTracer({ objectPath: string, pid?: integer, comm?: string (1..15 bytes), maxEvents: integer 0..1000000, "
    "ringBufferBytes?: power of two >= 4096, maxQueuedEvents?: integer >= 1, " TRACEFLEET_TARGET_CGROUP_USAGE
    ", " TRACEFLEET_TARGET_PIDS_USAGE ", onEvents: (kills: OomkillRawKill[]) => void })";
constexpr uint64_t kMaxEvents = 1'000'000;

std::string CommOf(const char* comm) { return std::string(comm, strnlen(comm, TRACEFLEET_COMM_LEN)); }

Napi::Array KillsToJs(Napi::Env env, const std::vector<oomkill_event>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const oomkill_event& e = batch[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("tsNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.ts_ns)));
    o.Set("victimPid", e.victim_pid);
    o.Set("victimComm", CommOf(e.victim_comm));
    o.Set("triggerPid", e.trigger_pid);
    o.Set("triggerTid", e.trigger_tid);
    o.Set("triggerComm", CommOf(e.trigger_comm));
    o.Set("uid", e.uid);
    o.Set("oomScoreAdj", static_cast<int32_t>(e.oom_score_adj));
    o.Set("totalVmKb", Napi::BigInt::New(env, static_cast<uint64_t>(e.total_vm_kb)));
    o.Set("anonRssKb", Napi::BigInt::New(env, static_cast<uint64_t>(e.anon_rss_kb)));
    o.Set("fileRssKb", Napi::BigInt::New(env, static_cast<uint64_t>(e.file_rss_kb)));
    o.Set("shmemRssKb", Napi::BigInt::New(env, static_cast<uint64_t>(e.shmem_rss_kb)));
    o.Set("pgtablesKb", Napi::BigInt::New(env, static_cast<uint64_t>(e.pgtables_kb)));
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function OomkillTracer::Define(Napi::Env env) {
  return DefineClass(env, "OomkillTracer",
                     {InstanceMethod<&OomkillTracer::Start>("start"), InstanceMethod<&OomkillTracer::Stop>("stop"),
                      InstanceMethod<&OomkillTracer::Stats>("stats"), InstanceMethod<&OomkillTracer::Close>("close"),
                      InstanceMethod<&OomkillTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&OomkillTracer::RemoveTargetPid>("removeTargetPid")});
}

OomkillTracer::OomkillTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OomkillTracer>(info), EventStream("OomkillTracer") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("OomkillTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "comm", "maxEvents", "ringBufferBytes", "maxQueuedEvents", "targetCgroup", "targetPids", "onEvents"});
  OomkillConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 0, INT32_MAX, false, 0));
  config.comm = args.Comm(opts, "comm");
  config.maxEvents = args.Integer(opts, "maxEvents", 0, kMaxEvents, true, 0);
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 1u << 16);
  config.maxQueuedEvents = args.Integer(opts, "maxQueuedEvents", 1, 1u << 20, false, 4096);
  config.target = TargetOptions(args, opts, true);
  Napi::Function onEvents = args.Function(opts, "onEvents");

  std::unique_ptr<OomkillSession> session;
  try {
    session = std::make_unique<OomkillSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  Open(std::move(session), onEvents);
}

Napi::Value OomkillTracer::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<oomkill_event> batch;
  count = session_->Queue().PopBatch(batch, max);
  return KillsToJs(env, batch);
}

OomkillTracerStats OomkillTracer::CurrentStats() const {
  if (Closed()) return finalStats_;
  OomkillTracerStats stats;
  stats.counters = session_->ReadCounters();
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.ring = session_->Ring();
  return stats;
}

void OomkillTracer::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object OomkillTracer::StatsToJs(Napi::Env env) {
  OomkillTracerStats stats = CurrentStats();
  const OomkillCounters& c = stats.counters;
  Napi::Object o = Napi::Object::New(env);
  o.Set("kills", Napi::BigInt::New(env, c.values[OOMKILL_COUNTER_KILLS]));
  o.Set("overBudget", Napi::BigInt::New(env, c.values[OOMKILL_COUNTER_OVER_BUDGET]));
  o.Set("kernelDrops", Napi::BigInt::New(env, c.values[OOMKILL_COUNTER_DROPS]));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

Napi::Value OomkillTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "OomkillTracer");
}

Napi::Value OomkillTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "OomkillTracer");
}

Napi::Value OomkillLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(oomkill_event, field)))
  OFFSET(ts_ns);
  OFFSET(total_vm_kb);
  OFFSET(anon_rss_kb);
  OFFSET(file_rss_kb);
  OFFSET(shmem_rss_kb);
  OFFSET(pgtables_kb);
  OFFSET(victim_pid);
  OFFSET(trigger_pid);
  OFFSET(trigger_tid);
  OFFSET(uid);
  OFFSET(oom_score_adj);
  OFFSET(victim_comm);
  OFFSET(trigger_comm);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(oomkill_event)));
  layout.Set("offsets", offsets);
  layout.Set("OOMKILL_COUNTER_MAX", OOMKILL_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
