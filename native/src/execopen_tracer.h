// JS face of the exec-open tracer (execsnoop + opensnoop from the syscalls tracepoints): options, event
// conversion (arguments and paths escaped) and stats; the poll thread and lifecycle live in EventStream.
#pragma once

#include <napi.h>

#include "event_stream.h"
#include "execopen_session.h"

namespace tracefleet {

struct ExecOpenTracerStats {
  ExecOpenCounters counters;
  uint64_t queueDrops = 0;
  uint64_t delivered = 0;
  RingFill ring;
};

class ExecOpenTracer : public Napi::ObjectWrap<ExecOpenTracer>, private EventStream {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ExecOpenTracer(const Napi::CallbackInfo& info);

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
  ExecOpenTracerStats CurrentStats() const;

  ExecOpenSession* session_ = nullptr;  // owned by EventStream; gone once closed
  ExecOpenTracerStats finalStats_;      // valid once closed
};

// sizeof/offsetof of struct execopen_event and the constants of tcp.h this addon was built with.
Napi::Value ExecOpenLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
