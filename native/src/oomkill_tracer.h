// JS face of the oomkill tracer (oom:mark_victim): options, kill conversion and stats; the poll thread and the
// start/stop/close lifecycle live in EventStream.
#pragma once

#include <napi.h>

#include "event_stream.h"
#include "oomkill_session.h"

namespace tracefleet {

struct OomkillTracerStats {
  OomkillCounters counters;
  uint64_t queueDrops = 0;
  uint64_t delivered = 0;
  RingFill ring;
};

class OomkillTracer : public Napi::ObjectWrap<OomkillTracer>, private EventStream {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit OomkillTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) { return StartStream(info); }
  Napi::Value Stop(const Napi::CallbackInfo& info) { return StopStream(info); }
  Napi::Value Stats(const Napi::CallbackInfo& info) { return StatsOfStream(info); }
  Napi::Value Close(const Napi::CallbackInfo& info) { return CloseStream(info); }
  Napi::Value AddTargetPid(const Napi::CallbackInfo& info);
  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info);

  Napi::Value TakeBatch(Napi::Env env, size_t max, size_t& count) override;
  Napi::Object StatsToJs(Napi::Env env) override;
  void SaveFinalStats() noexcept override;
  void KeepAlive() override { Ref(); }
  void LetGo() override { Unref(); }
  OomkillTracerStats CurrentStats() const;

  OomkillSession* session_ = nullptr;  // owned by EventStream; gone once closed
  OomkillTracerStats finalStats_;      // valid once closed
};

// sizeof/offsetof of struct oomkill_event and the constants of tcp.h this addon was built with.
Napi::Value OomkillLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
