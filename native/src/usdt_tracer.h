// JS face of the USDT tracer: options, event conversion and stats; the poll thread and the
// start/stop/close lifecycle live in EventStream.
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "event_stream.h"
#include "usdt_session.h"

namespace tracefleet {

struct UsdtTracerStats {
  std::vector<uint64_t> hits;  // per probe index
  uint64_t overBudget = 0;
  uint64_t kernelDrops = 0;
  uint64_t queueDrops = 0;
  uint64_t delivered = 0;
  std::vector<uint64_t> unwind;  // UNWIND_* counters of the object
  std::vector<uint64_t> python;  // PY_COUNTER_* counters of the object
  RingFill ring;
};

class UsdtTracer : public Napi::ObjectWrap<UsdtTracer>, private EventStream {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit UsdtTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) { return StartStream(info); }
  Napi::Value Stop(const Napi::CallbackInfo& info) { return StopStream(info); }
  Napi::Value Stats(const Napi::CallbackInfo& info) { return StatsOfStream(info); }
  Napi::Value SetPythonProcess(const Napi::CallbackInfo& info);
  Napi::Value ForgetPythonProcess(const Napi::CallbackInfo& info);
  Napi::Value AddTargetPid(const Napi::CallbackInfo& info);
  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info) { return CloseStream(info); }

  Napi::Value TakeBatch(Napi::Env env, size_t max, size_t& count) override;
  Napi::Object StatsToJs(Napi::Env env) override;
  void SaveFinalStats() noexcept override;
  void KeepAlive() override { Ref(); }
  void LetGo() override { Unref(); }
  UsdtTracerStats CurrentStats() const;

  UsdtSession* session_ = nullptr;  // owned by EventStream; gone once closed
  UsdtTracerStats finalStats_;      // valid once closed
};

// sizeof/offsetof of struct usdt_event and the constants of usdt.h this addon was built with.
Napi::Value UsdtLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
