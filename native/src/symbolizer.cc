#include "symbolizer.h"

#include "args.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new Symbolizer(options?: { perfMapMaxBytes?: integer }); symbolizer.symbolizeUser(pid: integer, addrs: BigUint64Array /* stack, leaf first */): string[]; "
    "symbolizer.symbolizeKernel(addrs: BigUint64Array /* stack, leaf first */): string[]; symbolizer.forget(pid: integer); "
    "symbolizer.stats(); symbolizer.close()";

Napi::Array ToJs(Napi::Env env, const std::vector<std::string>& names) {
  Napi::Array array = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) array.Set(static_cast<uint32_t>(i), names[i]);
  return array;
}

}  // namespace

Napi::Function Symbolizer::Define(Napi::Env env) {
  return DefineClass(env, "Symbolizer",
                     {InstanceMethod<&Symbolizer::SymbolizeUser>("symbolizeUser"),
                      InstanceMethod<&Symbolizer::SymbolizeKernel>("symbolizeKernel"),
                      InstanceMethod<&Symbolizer::Forget>("forget"), InstanceMethod<&Symbolizer::Stats>("stats"),
                      InstanceMethod<&Symbolizer::Close>("close")});
}

namespace {

uint64_t PerfMapMaxBytes(const Napi::CallbackInfo& info) {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("Symbolizer must be called with new");
  if (info.Length() == 0 || info[0].IsUndefined()) return PerfMap::kDefaultMaxBytes;
  Napi::Object options = args.Object(info[0], "options");
  args.RejectUnknownKeys(options, {"perfMapMaxBytes"});
  return args.Integer(options, "perfMapMaxBytes", 1, 1ULL << 40, false, PerfMap::kDefaultMaxBytes);
}

}  // namespace

Symbolizer::Symbolizer(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Symbolizer>(info), user_(PerfMapMaxBytes(info)) {}

void Symbolizer::CheckOpen(Napi::Env env, const char* method) const {
  if (closed_) throw Napi::Error::New(env, std::string("Symbolizer.") + method + "(): the symbolizer is closed");
}

Napi::Value Symbolizer::SymbolizeUser(const Napi::CallbackInfo& info) {
  Args args(info.Env(), kUsage);
  int pid = static_cast<int>(args.IntegerArg(info[0], "pid", 0, INT32_MAX));
  Napi::BigUint64Array addrs = args.AddressesArg(info[1], "addrs");
  CheckOpen(info.Env(), "symbolizeUser");
  return ToJs(info.Env(), user_.Symbolize(pid, addrs.Data(), addrs.ElementLength()));
}

Napi::Value Symbolizer::SymbolizeKernel(const Napi::CallbackInfo& info) {
  Args args(info.Env(), kUsage);
  Napi::BigUint64Array addrs = args.AddressesArg(info[0], "addrs");
  CheckOpen(info.Env(), "symbolizeKernel");
  std::vector<std::string> names(addrs.ElementLength());
  for (size_t i = 0; i < names.size(); i++) {
    uint64_t addr = addrs[i];
    names[i] = kernel_.Symbolize(i == 0 || addr == 0 ? addr : addr - 1);  // return addresses, as for user stacks
  }
  return ToJs(info.Env(), names);
}

Napi::Value Symbolizer::Forget(const Napi::CallbackInfo& info) {
  Args args(info.Env(), kUsage);
  int pid = static_cast<int>(args.IntegerArg(info[0], "pid", 0, INT32_MAX));
  if (!closed_) user_.Forget(pid);
  return info.Env().Undefined();
}

Napi::Value Symbolizer::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SymbolizerStats stats = user_.Stats();
  Napi::Object result = Napi::Object::New(env);
  // Counts stay far below 2^53: plain numbers.
  result.Set("files", static_cast<double>(stats.files));
  result.Set("symbols", static_cast<double>(stats.symbols));
  result.Set("processes", static_cast<double>(stats.processes));
  result.Set("cachedAddresses", static_cast<double>(stats.counters.cachedAddresses));
  result.Set("lookups", static_cast<double>(stats.counters.lookups));
  result.Set("cacheHits", static_cast<double>(stats.counters.cacheHits));
  result.Set("mapsReads", static_cast<double>(stats.counters.mapsReads));
  result.Set("perfMapsRefused", static_cast<double>(stats.counters.perfMapsRefused));
  result.Set("perfMapLinesTooLong", static_cast<double>(stats.counters.perfMapLinesTooLong));
  result.Set("perfMapBytesNotRead", static_cast<double>(stats.counters.perfMapBytesNotRead));
  result.Set("mappingsRefused", static_cast<double>(stats.counters.mappingsRefused));
  result.Set("lastRefusal", stats.counters.lastRefusal);
  return result;
}

Napi::Value Symbolizer::Close(const Napi::CallbackInfo& info) {
  closed_ = true;
  user_.Clear();
  return info.Env().Undefined();
}

}  // namespace tracefleet
