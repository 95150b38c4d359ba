#include "memleak_tracer.h"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "args.h"
#include "unwinder.h"
#include "elf_function_offsets.h"
#include "js_values.h"
#include "memleak_layout.h"
#include "target_set.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new MemleakTracer({ objectPath: string, mode: 'user' | 'kernel', pid?: integer (user mode, required), "
    "libc?: string (user mode), entryOffsets?: { [function]: bigint file offset } (user mode), "
    "mallocReturns?: bigint[] (user mode: malloc's ret sites, up to 64; no entry probe, sizes from the chunk header), "
    "mallocInside?: bigint[] (with unwinder: malloc's emulated return sites inside its frame, up to 64), "
    "maxAllocs?: integer 1..67108864, sampleEvery?: integer >= 1, sampleBytes?: integer >= 0 (not with sampleEvery > 1), "
    "stackDepth?: integer 1..127, stackMapEntries?: integer 1..1048576, unwinder?: Unwinder (user mode), python?: boolean (user mode), "
    TRACEFLEET_TARGET_CGROUP_USAGE " })";
constexpr uint64_t kMaxAllocs = 1u << 26;
constexpr uint64_t kMaxSample = 1ull << 40;

Napi::Array Strings(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array array = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) array.Set(static_cast<uint32_t>(i), items[i]);
  return array;
}

}  // namespace

Napi::Function MemleakTracer::Define(Napi::Env env) {
  return DefineClass(env, "MemleakTracer",
                     {InstanceMethod<&MemleakTracer::Start>("start"), InstanceMethod<&MemleakTracer::Snapshot>("snapshot"),
                      InstanceMethod<&MemleakTracer::Stop>("stop"), InstanceMethod<&MemleakTracer::Close>("close"),
                      InstanceMethod<&MemleakTracer::SetPythonProcess>("setPythonProcess"),
                      InstanceMethod<&MemleakTracer::ForgetPythonProcess>("forgetPythonProcess")});
}

MemleakTracer::MemleakTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemleakTracer>(info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  if (!info.IsConstructCall()) args.Fail("MemleakTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "mode", "pid", "libc", "entryOffsets", "mallocReturns", "mallocInside", "maxAllocs", "sampleEvery", "sampleBytes",
                                "stackDepth", "stackMapEntries", "unwinder", "python", "targetCgroup"});
  MemleakConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  std::string mode = args.String(opts, "mode", true);
  if (mode != "user" && mode != "kernel") args.Fail("option mode must be 'user' or 'kernel', got \"" + mode + "\"");
  config.kernelMode = mode == "kernel";
  if (config.kernelMode) {
    for (const char* userOnly : {"pid", "libc", "entryOffsets", "mallocReturns", "mallocInside", "python"}) {
      if (!opts.Get(userOnly).IsUndefined()) args.Fail(std::string("option ") + userOnly + " is for mode 'user' only");
    }
  } else {
    config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 1, INT32_MAX, true, 0));
    config.libc = args.String(opts, "libc", false);
    Napi::Value offsets = opts.Get("entryOffsets");
    if (!offsets.IsUndefined()) {
      Napi::Object table = args.Object(offsets, "option entryOffsets");
      Napi::Array names = table.GetPropertyNames();
      const std::vector<std::string>& known = MemleakUserFunctions();
      for (uint32_t i = 0; i < names.Length(); i++) {
        std::string name = names.Get(i).ToString().Utf8Value();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          std::string list;
          for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
          args.Fail("option entryOffsets." + name + ": not a probed function (one of " + list + ")");
        }
        config.entryOffsets[name] = args.BigIntArg(table.Get(name), "option entryOffsets." + name);
      }
    }
    for (const char* name : {"mallocReturns", "mallocInside"}) {
      Napi::Value value = opts.Get(name);
      if (value.IsUndefined()) continue;
      const std::string option = std::string("option ") + name;
      if (!value.IsArray()) args.Fail(option + " must be an array of bigint file offsets");
      Napi::Array list = value.As<Napi::Array>();
      if (list.Length() == 0 || list.Length() > 64) args.Fail(option + " must hold 1 to 64 offsets");
      std::vector<uint64_t>& out = std::string(name) == "mallocReturns" ? config.mallocReturns : config.mallocInside;
      for (uint32_t i = 0; i < list.Length(); i++) out.push_back(args.BigIntArg(list.Get(i), option + "[" + std::to_string(i) + "]"));
    }
  }
  config.maxAllocs = static_cast<uint32_t>(args.Integer(opts, "maxAllocs", 1, kMaxAllocs, false, MEMLEAK_DEFAULT_MAX_ALLOCS));
  config.sampleEvery = args.Integer(opts, "sampleEvery", 1, kMaxSample, false, 1);
  config.sampleBytes = args.Integer(opts, "sampleBytes", 0, kMaxSample, false, 0);
  if (config.sampleEvery > 1 && config.sampleBytes > 0) args.Fail("options sampleEvery and sampleBytes exclude each other");
  config.stackDepth = static_cast<uint32_t>(args.Integer(opts, "stackDepth", 1, TRACEFLEET_MAX_STACK_DEPTH, false, TRACEFLEET_MAX_STACK_DEPTH));
  config.stackMapEntries =
      static_cast<uint32_t>(args.Integer(opts, "stackMapEntries", 1, 1 << 20, false, MEMLEAK_STACK_MAP_ENTRIES));

  config.target = TargetOptions(args, opts, false);
  config.unwind = Unwinder::FdsOf(env, opts.Get("unwinder"), kUsage);
  if (config.kernelMode && config.unwind.Valid()) args.Fail("option unwinder is for mode 'user' only");
  if (!config.mallocInside.empty() && !config.unwind.Valid()) args.Fail("option mallocInside needs option unwinder (the stack is walked from inside malloc's frame)");
  config.python = args.Boolean(opts, "python", false);
  try {
    session_ = std::make_unique<MemleakSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

MemleakSession& MemleakTracer::Open(Napi::Env env, const char* method) {
  if (!session_) throw Napi::Error::New(env, std::string("MemleakTracer.") + method + "(): the tracer is closed");
  return *session_;
}

Napi::Value MemleakTracer::Start(const Napi::CallbackInfo& info) {
  MemleakSession& session = Open(info.Env(), "start");
  try {
    session.Attach();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("MemleakTracer.start(): ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value MemleakTracer::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, "tracer.snapshot(minAgeNs?: bigint)");
  uint64_t minAgeNs = info[0].IsUndefined() ? 0 : args.BigIntArg(info[0], "minAgeNs");
  MemleakSession& session = Open(env, "snapshot");
  MemleakSnapshotData data;
  MemleakCounters counters;
  std::vector<uint64_t> unwind, python;
  try {
    data = session.Snapshot(minAgeNs);
    counters = session.ReadCounters();
    unwind = session.ReadUnwind();
    python = session.ReadPython();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("MemleakTracer.snapshot(): ") + e.what());
  }
  const bool kernel = session.KernelMode();
  Napi::Array stacks = Napi::Array::New(env, data.stacks.size());
  const std::vector<uint64_t> none;
  for (size_t i = 0; i < data.stacks.size(); i++) {
    const MemleakStack& s = data.stacks[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("stackId", s.stackId);
    o.Set("bytes", Napi::BigInt::New(env, s.bytes));
    o.Set("count", static_cast<double>(s.count));
    o.Set("oldestNs", Napi::BigInt::New(env, s.oldestNs));
    o.Set("userStack", Addresses(env, kernel ? none : s.frames));
    o.Set("kernelStack", Addresses(env, kernel ? s.frames : none));
    o.Set("pyStackId", s.pyStackId);
    o.Set("pyFrames", Addresses(env, s.pyFrames));
    o.Set("pyStatus", s.pyStatus);
    o.Set("pyTruncated", s.pyTruncated);
    stacks.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object c = Napi::Object::New(env);
  c.Set("allocsSeen", Napi::BigInt::New(env, counters.allocsSeen));
  c.Set("allocsTraced", Napi::BigInt::New(env, counters.allocsTraced));
  c.Set("frees", Napi::BigInt::New(env, counters.frees));
  c.Set("freesMatched", Napi::BigInt::New(env, counters.freesMatched));
  c.Set("untracked", Napi::BigInt::New(env, counters.untracked));
  c.Set("stackErrors", Napi::BigInt::New(env, counters.stackErrors));
  c.Set("pyStackErrors", Napi::BigInt::New(env, counters.pyStackErrors));
  c.Set("unwind", UnwindCountersToJs(env, unwind));
  c.Set("python", PythonCountersToJs(env, python));

  Napi::Object result = Napi::Object::New(env);
  result.Set("nowNs", Napi::BigInt::New(env, data.nowNs));
  result.Set("stackMapEntries", Napi::Number::New(env, data.stackMapEntries));
  result.Set("pyStackEntries", Napi::Number::New(env, data.pyStackEntries));
  result.Set("stacks", stacks);
  result.Set("counters", c);
  result.Set("attached", Strings(env, session.AttachedProbes()));
  result.Set("skipped", Strings(env, session.Skipped()));
  return result;
}

Napi::Value MemleakTracer::Stop(const Napi::CallbackInfo& info) {
  Open(info.Env(), "stop").Detach();
  return info.Env().Undefined();
}

Napi::Value MemleakTracer::Close(const Napi::CallbackInfo& info) {
  session_.reset();
  return info.Env().Undefined();
}

Napi::Value MemleakTracer::SetPythonProcess(const Napi::CallbackInfo& info) {
  return SetPythonProcessJs(info, session_ ? &session_->Python() : nullptr);
}

Napi::Value MemleakTracer::ForgetPythonProcess(const Napi::CallbackInfo& info) {
  return ForgetPythonProcessJs(info, session_ ? &session_->Python() : nullptr);
}

Napi::Value FunctionOffsetsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, "functionOffsets(path: string, names: string[])");
  std::string path = args.StringArg(info[0], "path");
  if (!info[1].IsArray()) args.Fail("names must be an array of strings");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> names;
  for (uint32_t i = 0; i < list.Length(); i++) names.push_back(args.StringArg(list.Get(i), "names[" + std::to_string(i) + "]"));
  FunctionOffsets offsets;
  try {
    offsets = FindFunctionOffsets(path, names);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("functionOffsets(): ") + e.what());
  }
  Napi::Object result = Napi::Object::New(env);
  for (const auto& [name, offset] : offsets.found) result.Set(name, Napi::BigInt::New(env, offset));
  return result;
}

Napi::Value MemleakLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(memleak_alloc, field)))
  OFFSET(size);
  OFFSET(ts_ns);
  OFFSET(stack_id);
  OFFSET(py_stack_id);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(memleak_alloc)));
  layout.Set("offsets", offsets);
#define CONSTANT(name) layout.Set(#name, static_cast<double>(name))
  CONSTANT(MEMLEAK_DEFAULT_MAX_ALLOCS);
  CONSTANT(MEMLEAK_STACK_MAP_ENTRIES);
  CONSTANT(MEMLEAK_OVERFLOW_ID_BASE);
  CONSTANT(MEMLEAK_OVERFLOW_ENTRIES);
  CONSTANT(MEMLEAK_PY_STACK_ENTRIES);
  CONSTANT(MEMLEAK_COUNTER_ALLOCS_SEEN);
  CONSTANT(MEMLEAK_COUNTER_ALLOCS_TRACED);
  CONSTANT(MEMLEAK_COUNTER_FREES);
  CONSTANT(MEMLEAK_COUNTER_FREES_MATCHED);
  CONSTANT(MEMLEAK_COUNTER_UNTRACKED);
  CONSTANT(MEMLEAK_COUNTER_STACK_ERRORS);
  CONSTANT(MEMLEAK_COUNTER_BYTES_SEEN);
  CONSTANT(MEMLEAK_COUNTER_PY_STACK_ERRORS);
  CONSTANT(MEMLEAK_COUNTER_MAX);
#undef CONSTANT
  return layout;
}

}  // namespace tracefleet
