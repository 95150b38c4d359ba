// JS face of the leak tracer: options, snapshots and the start/stop/close lifecycle. Nothing
// streams here (the state lives in BPF maps and is read on demand), so no poll thread.
#pragma once

#include <napi.h>

#include <memory>

#include "memleak_session.h"

namespace tracefleet {

class MemleakTracer : public Napi::ObjectWrap<MemleakTracer> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit MemleakTracer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SetPythonProcess(const Napi::CallbackInfo& info);
  Napi::Value ForgetPythonProcess(const Napi::CallbackInfo& info);
  MemleakSession& Open(Napi::Env env, const char* method);

  std::unique_ptr<MemleakSession> session_;  // null once closed
};

// functionOffsets(path, names): file offsets of the functions found in the ELF file (where their uprobes go).
Napi::Value FunctionOffsetsJs(const Napi::CallbackInfo& info);

// sizeof/offsetof of struct memleak_alloc and the constants of memleak.h this addon was built with.
Napi::Value MemleakLayout(const Napi::CallbackInfo& info);

}  // namespace tracefleet
