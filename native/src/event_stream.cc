#include "event_stream.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace tracefleet {
namespace {

constexpr size_t kBatchSize = 1024;
constexpr auto kFlushInterval = std::chrono::milliseconds(100);
constexpr int kPollTimeoutMs = 100;

}  // namespace

// Shared by the JS thread and the poll thread; outlives the stream object if that is
// collected first, because the thread-safe function's finalizer is the one that frees it.
struct EventStream::Runner {
  using Tsfn = Napi::TypedThreadSafeFunction<Runner, void, &EventStream::CallJs>;
  EventStream* owner = nullptr;
  EventSource* source = nullptr;
  Tsfn tsfn;
  std::thread thread;
  std::atomic<bool> stopRequested{false};
  std::atomic<bool> notifyPending{false};
  bool envClosing = false;  // poll thread only
  std::string pollError;    // written by the poll thread before it releases tsfn

  // One pending call at a time: the JS side drains the whole queue per call.
  void Notify() {
    if (envClosing || notifyPending.exchange(true)) return;
    napi_status status = tsfn.NonBlockingCall();
    if (status == napi_closing) envClosing = true;
    if (status != napi_ok) notifyPending = false;
  }
};

EventStream::EventStream(std::string className) : className_(std::move(className)) {}

EventStream::~EventStream() {
  // Only reached when the object was never started or its thread is already done, or at
  // environment teardown: the KeepAlive() taken in start() keeps a running stream alive.
  StopThread();
  if (runner_ != nullptr) runner_->owner = nullptr;
}

void EventStream::Open(std::unique_ptr<EventSource> source, Napi::Function onBatch) {
  source_ = std::move(source);
  onBatch_ = Napi::Persistent(onBatch);
}

Napi::Value EventStream::StartStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ == State::Closed) throw Napi::Error::New(env, className_ + ".start(): this " + className_ + " is closed");
  if (state_ != State::Loaded) {
    throw Napi::Error::New(env, className_ + ".start(): already started; create a new " + className_ + " to start again");
  }
  try {
    source_->Attach();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }

  auto* runner = new Runner();
  runner->owner = this;
  runner->source = source_.get();
  runner->tsfn = Runner::Tsfn::New(env, "tracefleet." + className_, 0, 1, runner, &EventStream::OnRunnerFinalized,
                                   static_cast<void*>(nullptr));
  runner_ = runner;
  KeepAlive();  // the thread may call into this object until its finalizer ran
  state_ = State::Running;
  try {
    runner->thread = std::thread(&EventStream::PollLoop, runner);
  } catch (const std::system_error& e) {
    // The finalizer runs once tsfn is released and undoes KeepAlive().
    source_->Detach();
    state_ = State::Stopped;
    pollError_ = std::string("start poll thread: ") + e.what();
    runner->tsfn.Release();
    throw Napi::Error::New(env, pollError_);
  }
  return env.Undefined();
}

void EventStream::PollLoop(Runner* runner) {
  EventSource& source = *runner->source;
  auto lastNotify = std::chrono::steady_clock::now();
  while (!runner->stopRequested.load() && !runner->envClosing) {
    int n = source.Poll(kPollTimeoutMs);
    // Programs commit most records without waking us (packages/bpf/src/ringbuf_wakeup.bpf.h):
    // a poll that timed out drains what arrived meanwhile.
    if (n == 0) n = source.Consume();
    if (n < 0 && n != -EINTR) {
      runner->pollError = std::string("poll ring buffer: ") + std::strerror(-n);
      break;
    }
    size_t queued = source.Queued();
    auto now = std::chrono::steady_clock::now();
    if (queued >= kBatchSize || (queued > 0 && now - lastNotify >= kFlushInterval)) {
      runner->Notify();
      lastNotify = now;
    }
  }
  // stop() detached before asking us to end, so everything still in the ring is all there will be.
  source.Consume();
  runner->Notify();
  runner->tsfn.Release();
}

void EventStream::CallJs(Napi::Env env, Napi::Function, Runner* runner, void*) {
  if (env == nullptr || runner == nullptr) return;
  runner->notifyPending = false;
  if (runner->owner == nullptr) return;
  try {
    runner->owner->Deliver(env);
  } catch (const Napi::Error& e) {
    // Node 20 would only print a warning for an exception escaping a thread-safe call;
    // a callback that throws must surface like any other callback's error.
    napi_fatal_exception(env, e.Value());
  }
}

void EventStream::Deliver(Napi::Env env) {
  while (state_ != State::Closed && source_) {
    Napi::HandleScope scope(env);
    size_t count = 0;
    Napi::Value batch = TakeBatch(env, kBatchSize, count);
    if (count == 0) break;
    delivered_ += count;
    onBatch_.Call(env.Undefined(), {batch});
  }
}

void EventStream::OnRunnerFinalized(Napi::Env env, void*, Runner* runner) {
  // Normally the thread has released tsfn and is on its way out. At environment teardown
  // the finalizer comes first, and the thread must be told to end before we wait for it.
  runner->stopRequested = true;
  if (runner->thread.joinable()) runner->thread.join();
  if (runner->owner != nullptr) {
    runner->owner->runner_ = nullptr;
    runner->owner->OnThreadDone(env, runner->pollError);
  }
  delete runner;
}

void EventStream::OnThreadDone(Napi::Env env, const std::string& pollError) {
  Napi::HandleScope scope(env);
  if (pollError_.empty()) pollError_ = pollError;
  std::optional<Napi::Error> flushError;
  if (state_ != State::Closed) {
    state_ = State::Stopped;
    try {
      Deliver(env);  // whatever arrived after the last call
    } catch (const Napi::Error& e) {
      flushError = e;
    }
  }
  if (stopDeferred_) {
    if (flushError) {
      stopDeferred_->Reject(flushError->Value());
    } else if (!pollError_.empty()) {
      stopDeferred_->Reject(Napi::Error::New(env, pollError_).Value());
    } else {
      try {
        stopDeferred_->Resolve(StatsToJs(env));
      } catch (const std::exception& e) {
        stopDeferred_->Reject(Napi::Error::New(env, e.what()).Value());
      }
    }
    stopDeferred_.reset();
    stopPromise_.Reset();
  }
  LetGo();
}

Napi::Value EventStream::StopStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ == State::Stopping) return stopPromise_.Value();
  if (state_ == State::Running) {
    auto deferred = Napi::Promise::Deferred::New(env);
    source_->Detach();
    runner_->stopRequested = true;
    state_ = State::Stopping;
    stopDeferred_ = deferred;
    stopPromise_ = Napi::Persistent(deferred.Promise().As<Napi::Object>());
    return deferred.Promise();
  }
  if (state_ == State::Loaded) {
    // A source may have been given attachments before start() (SslTracer.attach()).
    source_->Detach();
    state_ = State::Stopped;
  }
  return ResolvedStop(env);
}

Napi::Value EventStream::ResolvedStop(Napi::Env env) {
  auto deferred = Napi::Promise::Deferred::New(env);
  if (!pollError_.empty()) {
    deferred.Reject(Napi::Error::New(env, pollError_).Value());
    return deferred.Promise();
  }
  try {
    deferred.Resolve(StatsToJs(env));
  } catch (const std::exception& e) {
    deferred.Reject(Napi::Error::New(env, e.what()).Value());
  }
  return deferred.Promise();
}

void EventStream::RequireNotStopped(Napi::Env env, const char* method) const {
  const std::string where = className_ + "." + method + "(): ";
  if (state_ == State::Closed) throw Napi::Error::New(env, where + "this " + className_ + " is closed");
  if (state_ == State::Stopping || state_ == State::Stopped) {
    throw Napi::Error::New(env, where + "this " + className_ + " is stopped; create a new " + className_);
  }
}

Napi::Value EventStream::StatsOfStream(const Napi::CallbackInfo& info) {
  try {
    return StatsToJs(info.Env());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// Never waits on JS: the poll thread only ever makes non-blocking calls.
void EventStream::StopThread() {
  if (runner_ == nullptr) return;
  if (source_) source_->Detach();
  runner_->stopRequested = true;
  if (runner_->thread.joinable()) runner_->thread.join();
}

Napi::Value EventStream::CloseStream(const Napi::CallbackInfo& info) {
  if (state_ != State::Closed) {
    StopThread();
    SaveFinalStats();
    state_ = State::Closed;
    source_.reset();  // frees the ring buffer, maps, programs and links: no BPF fds left
    onBatch_.Reset();
    // A pending stop() resolves from the finalizer, which still runs once the thread released tsfn.
  }
  return info.Env().Undefined();
}

}  // namespace tracefleet
