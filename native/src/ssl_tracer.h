// JS face of the TLS plaintext tracer: options, probe specs, event conversion and stats; the poll
// thread and the start/stop/close lifecycle live in EventStream. Unlike the USDT tracer, probes come
// and go while it runs (attach/detach), and the tgid filter can change (setPids).
#pragma once

#include <napi.h>

#include <cstdint>

#include "event_stream.h"
#include "ssl_session.h"

namespace tracefleet {

struct SslTracerStats {
  SslCounters kernel;
  uint64_t queueDrops = 0;
  uint64_t delivered = 0;
  std::vector<uint64_t> unwind;  // UNWIND_* counters of the object
  std::vector<uint64_t> python;  // PY_COUNTER_* counters of the object
  RingFill ring;
};

class SslTracer : public Napi::ObjectWrap<SslTracer>, private EventStream {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit SslTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) { return StartStream(info); }
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value DetachAsync(const Napi::CallbackInfo& info);
  // Throws while a detachAsync() runs: nothing else may touch the probes, stop or close meanwhile.
  void RequireIdle(Napi::Env env, const char* what) const;
  Napi::Value SetPids(const Napi::CallbackInfo& info);
  Napi::Value SetNssLayer(const Napi::CallbackInfo& info);
  Napi::Value SetPythonProcess(const Napi::CallbackInfo& info);
  Napi::Value ForgetPythonProcess(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    RequireIdle(info.Env(), "stop");
    return StopStream(info);
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) { return StatsOfStream(info); }
  // How the session links uprobes: "uprobe_multi" or "perf_event" (SslSession::LinkKind).
  Napi::Value LinkKind(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info) {
    RequireIdle(info.Env(), "close");
    return CloseStream(info);
  }

  Napi::Value TakeBatch(Napi::Env env, size_t max, size_t& count) override;
  Napi::Object StatsToJs(Napi::Env env) override;
  void SaveFinalStats() noexcept override;
  void KeepAlive() override { Ref(); }
  void LetGo() override { Unref(); }
  SslTracerStats CurrentStats() const;

  SslSession* session_ = nullptr;  // owned by EventStream; gone once closed
  bool filterPids_ = false;
  SslTracerStats finalStats_;      // valid once closed
  std::string linkKind_;
  bool detaching_ = false;         // a detachAsync() runs on a worker thread
  friend class SslDetachWorker;
};

// sizeof/offsetof of struct ssl_event and struct ssl_call and the constants of ssl.h this addon was built with.
Napi::Value SslLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
