// The JS-side lifecycle the Profiler and the UsdtTracer share: start() attaches and starts
// one long-lived poll thread, which hands batches to JS through a ThreadSafeFunction;
// stop() detaches, drains and resolves with the final stats; close() frees every fd.
// A class wrapping an EventSource derives from Napi::ObjectWrap<T> and from this.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "event_source.h"

namespace tracefleet {

class EventStream {
 public:
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

 protected:
  // className names the JS class in errors ("Profiler.start(): ...") and the thread-safe function.
  explicit EventStream(std::string className);
  // Stops and joins the poll thread if it still runs (environment teardown); frees the source.
  virtual ~EventStream();

  // Once, from the derived constructor, with a loaded source and the JS callback for batches.
  void Open(std::unique_ptr<EventSource> source, Napi::Function onBatch);

  // The JS methods; the derived class forwards to these.
  Napi::Value StartStream(const Napi::CallbackInfo& info);
  Napi::Value StopStream(const Napi::CallbackInfo& info);
  Napi::Value StatsOfStream(const Napi::CallbackInfo& info);
  Napi::Value CloseStream(const Napi::CallbackInfo& info);

  // True once close() freed the source: the derived class must then use its saved stats.
  bool Closed() const { return state_ == State::Closed; }
  // Throws an Error naming "<class>.<method>()" once the stream is stopping, stopped or closed: for
  // methods that attach or filter, whose effect would never be read.
  void RequireNotStopped(Napi::Env env, const char* method) const;
  // Records handed to the JS callback so far.
  uint64_t Delivered() const { return delivered_.load(); }

  // Pops up to max queued records into a JS array; sets count (0 when the queue is empty).
  virtual Napi::Value TakeBatch(Napi::Env env, size_t max, size_t& count) = 0;
  // The stats object of stop() and stats(): live counters while open, the saved ones once
  // closed. May throw std::exception (a counter map read failed).
  virtual Napi::Object StatsToJs(Napi::Env env) = 0;
  // Called once by close() while the source still exists; must not throw.
  virtual void SaveFinalStats() noexcept = 0;
  // Ref()/Unref() of the JS object: a running stream must not be collected.
  virtual void KeepAlive() = 0;
  virtual void LetGo() = 0;

 private:
  struct Runner;
  enum class State { Loaded, Running, Stopping, Stopped, Closed };

  static void CallJs(Napi::Env env, Napi::Function unused, Runner* runner, void* data);
  static void OnRunnerFinalized(Napi::Env env, void* data, Runner* runner);
  static void PollLoop(Runner* runner);

  void Deliver(Napi::Env env);
  void OnThreadDone(Napi::Env env, const std::string& pollError);
  void StopThread();
  Napi::Value ResolvedStop(Napi::Env env);

  const std::string className_;
  State state_ = State::Loaded;
  std::unique_ptr<EventSource> source_;
  Napi::FunctionReference onBatch_;
  Runner* runner_ = nullptr;  // owned by its thread-safe function; freed in its finalizer
  std::atomic<uint64_t> delivered_{0};
  std::optional<Napi::Promise::Deferred> stopDeferred_;
  Napi::ObjectReference stopPromise_;  // a second stop() returns the same promise
  std::string pollError_;
};

}  // namespace tracefleet
