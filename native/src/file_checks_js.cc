#include "file_checks_js.h"

#include "args.h"
#include "safe_open.h"

namespace tracefleet {
namespace {

constexpr const char* kCheckUsage = "safeOpenCheck(path: string, maxBytes?: integer, root?: string)";
constexpr const char* kReaderUsage =
    "new PerfMapReader(pid: integer, path: string ('' for the process's own map), maxBytes: integer); reader.refresh(): boolean; "
    "reader.find(addr: bigint): string | null; reader.stats()";

}  // namespace

Napi::Value SafeOpenCheckJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kCheckUsage);
  std::string path = args.StringArg(info[0], "path");
  uint64_t maxBytes = info.Length() > 1 && !info[1].IsUndefined() ? args.IntegerArg(info[1], "maxBytes", 1, 1ULL << 50) : 0;
  // With a root: `path` resolved inside it, as the agent reads a file in a process's own mount namespace.
  bool inRoot = info.Length() > 2 && !info[2].IsUndefined();
  SafeOpenResult r = inRoot ? SafeOpenRegularInRoot(args.StringArg(info[2], "root"), path, maxBytes) : SafeOpenRegular(path, maxBytes);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", r.ok());
  if (r.ok()) {
    out.Set("size", static_cast<double>(r.st.st_size));
  } else {
    out.Set("error", r.error);
  }
  return out;
}

Napi::Function PerfMapReader::Define(Napi::Env env) {
  return DefineClass(env, "PerfMapReader",
                     {InstanceMethod<&PerfMapReader::Refresh>("refresh"), InstanceMethod<&PerfMapReader::Find>("find"),
                      InstanceMethod<&PerfMapReader::Stats>("stats")});
}

PerfMapReader::PerfMapReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PerfMapReader>(info) {
  Args args(info.Env(), kReaderUsage);
  if (!info.IsConstructCall()) args.Fail("PerfMapReader must be called with new");
  int pid = static_cast<int>(args.IntegerArg(info[0], "pid", 1, INT32_MAX));
  std::string path = args.StringArg(info[1], "path");
  uint64_t maxBytes = args.IntegerArg(info[2], "maxBytes", 1, 1ULL << 40);
  map_ = std::make_unique<PerfMap>(pid, maxBytes, path);
}

Napi::Value PerfMapReader::Refresh(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), map_->Refresh()); }

Napi::Value PerfMapReader::Find(const Napi::CallbackInfo& info) {
  Args args(info.Env(), kReaderUsage);
  const std::string* name = map_->Find(args.BigIntArg(info[0], "addr"));
  return name != nullptr ? Napi::String::New(info.Env(), *name) : info.Env().Null();
}

Napi::Value PerfMapReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const PerfMapCounters& c = map_->counters();
  out.Set("entries", static_cast<double>(map_->entries()));
  out.Set("refused", static_cast<double>(c.refused));
  out.Set("linesTooLong", static_cast<double>(c.linesTooLong));
  out.Set("bytesNotRead", static_cast<double>(c.bytesNotRead));
  out.Set("refusal", map_->refusal());
  out.Set("path", map_->path());
  return out;
}

}  // namespace tracefleet
