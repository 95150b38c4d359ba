#include "profiler.h"

#include <cstring>
#include <stdexcept>

#include "args.h"
#include "js_values.h"
#include "profile_event.h"
#include "unwinder.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new Profiler({ objectPath: string, frequencyHz: integer 1..1000, targetPid?: integer (0 = all), "
    "targetComm?: string of at most 15 bytes, includeIdle?: boolean, ringBufferBytes?: power of two >= 4096, "
    "maxQueuedSamples?: integer >= 1, foldSamples?: boolean, unwinder?: Unwinder, python?: boolean, "
    TRACEFLEET_TARGET_CGROUP_USAGE ", " TRACEFLEET_TARGET_PIDS_USAGE ", onSamples: (samples: RawSample[]) => void })";


Napi::Array SamplesToJs(Napi::Env env, const std::vector<Sample>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const Sample& s = batch[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", s.pid);
    o.Set("tid", s.tid);
    o.Set("cpu", s.cpu);
    o.Set("comm", s.comm);
    o.Set("kernelStack", Addresses(env, s.kernelStack));
    o.Set("userStack", Addresses(env, s.userStack));
    o.Set("kernelStackError", s.kernelStackError);
    o.Set("userStackError", s.userStackError);
    o.Set("pyFrames", Addresses(env, s.pyFrames));
    o.Set("pyStatus", s.pyStatus);
    o.Set("pyTruncated", s.pyTruncated);
    o.Set("count", s.count);
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function Profiler::Define(Napi::Env env) {
  return DefineClass(env, "Profiler",
                     {InstanceMethod<&Profiler::Start>("start"), InstanceMethod<&Profiler::Stop>("stop"),
                      InstanceMethod<&Profiler::Stats>("stats"), InstanceMethod<&Profiler::Close>("close"),
                      InstanceMethod<&Profiler::SetPythonProcess>("setPythonProcess"),
                      InstanceMethod<&Profiler::ForgetPythonProcess>("forgetPythonProcess"),
                      InstanceMethod<&Profiler::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&Profiler::RemoveTargetPid>("removeTargetPid")});
}

Profiler::Profiler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Profiler>(info), EventStream("Profiler") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("Profiler must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "frequencyHz", "targetPid", "targetComm", "includeIdle",
                                "ringBufferBytes", "maxQueuedSamples", "foldSamples", "unwinder", "python", "targetCgroup",
                                "targetPids", "onSamples"});
  ProfileConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.frequencyHz = static_cast<uint32_t>(args.Integer(opts, "frequencyHz", 1, 1000, true, 0));
  config.targetPid = static_cast<uint32_t>(args.Integer(opts, "targetPid", 0, UINT32_MAX, false, 0));
  config.targetComm = args.Comm(opts, "targetComm");
  config.includeIdle = args.Boolean(opts, "includeIdle", false);
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 4u << 20);
  config.maxQueuedSamples = args.Integer(opts, "maxQueuedSamples", 1, 1u << 24, false, 65536);
  config.foldSamples = args.Boolean(opts, "foldSamples", false);
  config.unwind = Unwinder::FdsOf(info.Env(), opts.Get("unwinder"), kUsage);
  config.python = args.Boolean(opts, "python", false);
  config.target = TargetOptions(args, opts, true);
  Napi::Function onSamples = args.Function(opts, "onSamples");

  std::unique_ptr<ProfileSession> session;
  try {
    session = std::make_unique<ProfileSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  Open(std::move(session), onSamples);
}

Napi::Value Profiler::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<Sample> batch;
  session_->Queue().PopBatch(batch, max);
  // Delivered counts samples: a folded one stands for several.
  count = 0;
  for (const Sample& s : batch) count += s.count;
  return SamplesToJs(env, batch);
}

ProfilerStats Profiler::CurrentStats() const {
  if (Closed()) return finalStats_;
  ProfilerStats stats;
  KernelCounters counters = session_->ReadCounters();
  stats.samplesSeen = counters.samplesSeen;
  stats.kernelDrops = counters.kernelDrops;
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.unwind = session_->ReadUnwind();
  stats.python = session_->Python().ReadCounters();
  stats.ring = session_->Ring();
  return stats;
}

Napi::Value Profiler::SetPythonProcess(const Napi::CallbackInfo& info) {
  return SetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value Profiler::ForgetPythonProcess(const Napi::CallbackInfo& info) {
  return ForgetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value Profiler::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "Profiler");
}

Napi::Value Profiler::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "Profiler");
}

void Profiler::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    // Counters unreadable: keep what the queue and delivery counts know.
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object Profiler::StatsToJs(Napi::Env env) {
  ProfilerStats stats = CurrentStats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("samplesSeen", Napi::BigInt::New(env, stats.samplesSeen));
  o.Set("kernelDrops", Napi::BigInt::New(env, stats.kernelDrops));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  o.Set("unwind", UnwindCountersToJs(env, stats.unwind));
  o.Set("python", PythonCountersToJs(env, stats.python));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

}  // namespace tracefleet
