// JS face of symbolization: user frames via libdwfl, kernel frames via kallsyms.
#pragma once

#include <napi.h>

#include "kernel_symbols.h"
#include "user_symbols.h"

namespace tracefleet {

class Symbolizer : public Napi::ObjectWrap<Symbolizer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Symbolizer(const Napi::CallbackInfo& info);

 private:
  Napi::Value SymbolizeUser(const Napi::CallbackInfo& info);
  Napi::Value SymbolizeKernel(const Napi::CallbackInfo& info);
  Napi::Value Forget(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void CheckOpen(Napi::Env env, const char* method) const;

  bool closed_ = false;
  UserSymbols user_;  // constructed from the options: perfMapMaxBytes
  KernelSymbols kernel_;
};

}  // namespace tracefleet
