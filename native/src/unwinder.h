// JS face of the unwind tables: one per agent, shared by every tracer created with it.
// addProcess/removeProcess run on libuv's pool (a table build can take a fraction of a second);
// takeMisses and stats never wait for a build.
#pragma once

#include <napi.h>

#include <memory>

#include "unwind_registry.h"

namespace tracefleet {

class Unwinder : public Napi::ObjectWrap<Unwinder> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Unwinder(const Napi::CallbackInfo& info);

  // The shared maps for a tracer's object, or invalid fds when v is undefined. Throws a
  // TypeError when v is something else, or an Unwinder already closed.
  static UnwindFds FdsOf(Napi::Env env, const Napi::Value& v, const char* usage);

 private:
  Napi::Value AddProcess(const Napi::CallbackInfo& info) { return Queue(info, false); }
  Napi::Value RemoveProcess(const Napi::CallbackInfo& info) { return Queue(info, true); }
  // addProcess/removeProcess: the registry call on libuv's pool, settled as a Promise.
  Napi::Value Queue(const Napi::CallbackInfo& info, bool remove);
  Napi::Value TakeMisses(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Processes(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  std::shared_ptr<UnwindRegistry> Live(Napi::Env env) const;

  // Shared with in-flight workers, so close() while a build runs frees it when that build ends.
  std::shared_ptr<UnwindRegistry> registry_;
};

// Unwind counters of a tracer's object plus the registry's, as the UnwindStats JS object.
Napi::Object UnwindCountersToJs(Napi::Env env, const std::vector<uint64_t>& counters);

// unwindTable(path): the rows built for one ELF file (specs and tools).
Napi::Value UnwindTableJs(const Napi::CallbackInfo& info);

}  // namespace tracefleet
