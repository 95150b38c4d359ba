// JS access to the file-opening rules (safe_open.h) and the perf map reader (perf_map.h), so
// that their specs can give them hostile files: FIFOs, devices, oversized and growing files.
#pragma once

#include <napi.h>

#include <memory>

#include "perf_map.h"

namespace tracefleet {

// safeOpenCheck(path: string, maxBytes?: integer): { ok: true, size } | { ok: false, error }
Napi::Value SafeOpenCheckJs(const Napi::CallbackInfo& info);

// new PerfMapReader(pid, path, maxBytes): refresh(): boolean; find(addr: bigint): string | null; stats()
class PerfMapReader : public Napi::ObjectWrap<PerfMapReader> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PerfMapReader(const Napi::CallbackInfo& info);

 private:
  Napi::Value Refresh(const Napi::CallbackInfo& info);
  Napi::Value Find(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  std::unique_ptr<PerfMap> map_;
};

}  // namespace tracefleet
