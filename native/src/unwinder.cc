#include "unwinder.h"

#include <stdexcept>
#include <string>

#include "args.h"
#include "unwind_table.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new Unwinder({ maxTableBytes?: integer >= 1 MiB (default 256 MiB) }); addProcess(pid): Promise; "
    "removeProcess(pid): Promise; takeMisses(): number[]; stats(); processes(): number[]; close()";

class RegistryWork : public Napi::AsyncWorker {
 public:
  RegistryWork(Napi::Env env, std::shared_ptr<UnwindRegistry> registry, int pid, bool remove)
      : Napi::AsyncWorker(env, "tracefleet:unwind"), deferred_(Napi::Promise::Deferred::New(env)),
        registry_(std::move(registry)), pid_(pid), remove_(remove) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (remove_) registry_->RemoveProcess(pid_);
      else result_ = registry_->AddProcess(pid_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("gone", result_.gone);
    o.Set("mappings", result_.mappings);
    o.Set("tablesBuilt", result_.tablesBuilt);
    o.Set("buildMs", static_cast<double>(result_.buildNs) / 1e6);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<UnwindRegistry> registry_;
  int pid_;
  bool remove_;
  AddProcessResult result_;
};

const char* const kCounterNames[UNWIND_COUNTER_MAX] = {
    "stacks",        "stacksComplete", "framesTable",  "framesFp",     "cutNoMapping", "cutNoRow",
    "cutExpression", "cutDepth",       "cutReadFault", "unwindPending", "cutInvalid",
};

template <typename T>
Napi::Array Numbers(Napi::Env env, const std::vector<T>& values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
  return out;
}

// The class, to tell an Unwinder from any other object (one addon instance per process).
Napi::FunctionReference* unwinderClass = nullptr;

}  // namespace

Napi::Function Unwinder::Define(Napi::Env env) {
  Napi::Function cls = DefineClass(env, "Unwinder",
                     {InstanceMethod<&Unwinder::AddProcess>("addProcess"),
                      InstanceMethod<&Unwinder::RemoveProcess>("removeProcess"),
                      InstanceMethod<&Unwinder::TakeMisses>("takeMisses"), InstanceMethod<&Unwinder::Stats>("stats"),
                      InstanceMethod<&Unwinder::Processes>("processes"), InstanceMethod<&Unwinder::Close>("close")});
  if (unwinderClass == nullptr) unwinderClass = new Napi::FunctionReference(Napi::Persistent(cls));
  return cls;
}

Unwinder::Unwinder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Unwinder>(info) {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("Unwinder must be called with new");
  Napi::Object opts = info.Length() > 0 && !info[0].IsUndefined() ? args.Object(info[0], "options") : Napi::Object::New(info.Env());
  args.RejectUnknownKeys(opts, {"maxTableBytes"});
  uint64_t maxBytes = args.Integer(opts, "maxTableBytes", 1u << 20, 1ull << 40, false, 256ull << 20);
  try {
    registry_ = std::make_shared<UnwindRegistry>(maxBytes);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

std::shared_ptr<UnwindRegistry> Unwinder::Live(Napi::Env env) const {
  if (!registry_) throw Napi::Error::New(env, "Unwinder is closed");
  return registry_;
}

UnwindFds Unwinder::FdsOf(Napi::Env env, const Napi::Value& v, const char* usage) {
  if (v.IsUndefined()) return UnwindFds{};
  Args args(env, usage);
  if (!v.IsObject() || unwinderClass == nullptr || !v.As<Napi::Object>().InstanceOf(unwinderClass->Value())) {
    args.Fail("option unwinder must be an Unwinder");
  }
  Unwinder* u = Unwinder::Unwrap(v.As<Napi::Object>());
  return u->Live(env)->Fds();
}

Napi::Value Unwinder::Queue(const Napi::CallbackInfo& info, bool remove) {
  Args args(info.Env(), kUsage);
  int pid = static_cast<int>(args.IntegerArg(info[0], "pid", 1, INT32_MAX));
  auto* work = new RegistryWork(info.Env(), Live(info.Env()), pid, remove);
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
}

Napi::Value Unwinder::TakeMisses(const Napi::CallbackInfo& info) { return Numbers(info.Env(), Live(info.Env())->TakeMisses()); }

Napi::Value Unwinder::Processes(const Napi::CallbackInfo& info) { return Numbers(info.Env(), Live(info.Env())->Processes()); }

Napi::Value Unwinder::Stats(const Napi::CallbackInfo& info) {
  UnwindRegistryStats s = Live(info.Env())->Stats();
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t v) { o.Set(name, static_cast<double>(v)); };
  set("processes", s.processes);
  set("tables", s.tables);
  set("tableRows", s.tableRows);
  set("tableBytes", s.tableBytes);
  set("tableBytesPeak", s.tableBytesPeak);
  set("tablesBuilt", s.tablesBuilt);
  o.Set("buildMs", static_cast<double>(s.buildNs) / 1e6);
  set("tablesEvicted", s.tablesEvicted);
  set("tablesRefused", s.tablesRefused);
  set("modulesFp", s.modulesFp);
  set("mappingsDropped", s.mappingsDropped);
  set("unreadable", s.unreadable);
  set("debuginfoFetched", s.debuginfoFetched);
  set("debuginfoMissing", s.debuginfoMissing);
  return o;
}

// Drops every process entry and table; a build in flight finishes first (it holds the registry).
Napi::Value Unwinder::Close(const Napi::CallbackInfo& info) {
  registry_.reset();
  return info.Env().Undefined();
}

Napi::Object UnwindCountersToJs(Napi::Env env, const std::vector<uint64_t>& counters) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < UNWIND_COUNTER_MAX && i < counters.size(); i++) {
    o.Set(kCounterNames[i], Napi::BigInt::New(env, counters[i]));
  }
  return o;
}

Napi::Value UnwindTableJs(const Napi::CallbackInfo& info) {
  Args args(info.Env(), "unwindTable(path: string)");
  std::string path = args.StringArg(info[0], "path");
  UnwindTableStats stats;
  std::vector<unwind_row> rows;
  try {
    rows = BuildUnwindTableForPath(path, stats);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("source", stats.source);
  o.Set("fdes", static_cast<double>(stats.fdes));
  o.Set("expressions", static_cast<double>(stats.expressions));
  o.Set("plt", static_cast<double>(stats.plt));
  o.Set("signal", static_cast<double>(stats.signal));
  Napi::Array out = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("pc", Napi::BigInt::New(env, static_cast<uint64_t>(rows[i].pc)));
    r.Set("cfaRule", rows[i].cfa_rule);
    r.Set("cfaOffset", rows[i].cfa_offset);
    r.Set("rbpRule", rows[i].rbp_rule);
    r.Set("rbpOffset", rows[i].rbp_offset);
    out.Set(static_cast<uint32_t>(i), r);
  }
  o.Set("rows", out);
  return o;
}

}  // namespace tracefleet
