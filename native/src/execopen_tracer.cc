#include "execopen_tracer.h"

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "args.h"
#include "js_values.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new ExecOpenTracer({ objectPath: string, pid?: integer, comm?: string (1..15 bytes), exec?: boolean, open?: boolean "
    "(not both false), failedOnly?: boolean, maxEvents: integer 0..10000000, maxPending?: integer 64..1048576, "
    "ringBufferBytes?: power of two >= 4096, maxQueuedEvents?: integer >= 1, " TRACEFLEET_TARGET_CGROUP_USAGE
    ", " TRACEFLEET_TARGET_PIDS_USAGE ", onEvents: (events: ExecOpenRawEvent[]) => void })";
constexpr uint64_t kMaxEvents = 10'000'000;

const char* SyscallName(uint8_t sys) {
  switch (sys) {
    case EXECOPEN_SYS_EXECVE: return "execve";
    case EXECOPEN_SYS_EXECVEAT: return "execveat";
    case EXECOPEN_SYS_OPEN: return "open";
    case EXECOPEN_SYS_OPENAT: return "openat";
    case EXECOPEN_SYS_OPENAT2: return "openat2";
    default: return "?";
  }
}

// Bytes from user memory as a JS string: control bytes (0x00-0x1f, 0x7f) and the backslash escaped as
// \xNN and \\, other bytes decoded as UTF-8 (an invalid sequence becomes U+FFFD).
std::string EscapeUserBytes(const char* data, size_t size) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(size);
  for (size_t i = 0; i < size; i++) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Napi::Array EventsToJs(Napi::Env env, const std::vector<ExecOpenRecord>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const execopen_event& e = batch[i].Header();
    const std::string& bytes = batch[i].bytes;
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", e.kind == EXECOPEN_KIND_EXEC ? "exec" : "open");
    o.Set("syscall", SyscallName(e.syscall));
    o.Set("pid", e.pid);
    o.Set("tid", e.tid);
    o.Set("ppid", e.ppid);
    o.Set("uid", e.uid);
    o.Set("comm", Napi::String::New(env, EscapeUserBytes(e.comm, strnlen(e.comm, TRACEFLEET_COMM_LEN))));
    o.Set("ret", e.ret);
    o.Set("tsNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.ts_ns)));
    o.Set("dfd", e.dfd);
    // The NUL-separated strings of data: an exec's file name then argv, an open's path.
    std::vector<std::string> parts;
    size_t start = 0;
    while (start < bytes.size()) {
      size_t end = bytes.find('\0', start);
      if (end == std::string::npos) end = bytes.size();
      parts.push_back(EscapeUserBytes(bytes.data() + start, end - start));
      start = end + 1;
    }
    o.Set("path", parts.empty() ? std::string() : parts[0]);
    if (e.kind == EXECOPEN_KIND_EXEC) {
      Napi::Array args = Napi::Array::New(env);
      for (size_t a = 1; a < parts.size() && a <= e.args_count; a++) args.Set(static_cast<uint32_t>(a - 1), parts[a]);
      o.Set("args", args);
    } else {
      o.Set("flags", e.flags);
      o.Set("mode", e.mode);
    }
    o.Set("argsTruncated", (e.truncated & EXECOPEN_TRUNC_ARGS) != 0);
    o.Set("truncated", (e.truncated & EXECOPEN_TRUNC_ARG) != 0);
    o.Set("readFailed", (e.truncated & EXECOPEN_TRUNC_READ) != 0);
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function ExecOpenTracer::Define(Napi::Env env) {
  return DefineClass(env, "ExecOpenTracer",
                     {InstanceMethod<&ExecOpenTracer::Start>("start"), InstanceMethod<&ExecOpenTracer::Stop>("stop"),
                      InstanceMethod<&ExecOpenTracer::Stats>("stats"), InstanceMethod<&ExecOpenTracer::Close>("close"),
                      InstanceMethod<&ExecOpenTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&ExecOpenTracer::RemoveTargetPid>("removeTargetPid")});
}

ExecOpenTracer::ExecOpenTracer(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ExecOpenTracer>(info), EventStream("ExecOpenTracer") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("ExecOpenTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "comm", "exec", "open", "failedOnly", "maxEvents", "maxPending",
                                "ringBufferBytes", "maxQueuedEvents", "targetCgroup", "targetPids", "onEvents"});
  ExecOpenConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 0, INT32_MAX, false, 0));
  config.comm = args.Comm(opts, "comm");
  config.exec = args.Boolean(opts, "exec", true);
  config.open = args.Boolean(opts, "open", true);
  if (!config.exec && !config.open) args.Fail("options exec and open must not both be false");
  config.failedOnly = args.Boolean(opts, "failedOnly", false);
  config.maxEvents = args.Integer(opts, "maxEvents", 0, kMaxEvents, true, 0);
  config.maxPending = static_cast<uint32_t>(args.Integer(opts, "maxPending", 64, 1u << 20, false, EXECOPEN_DEFAULT_MAX_PENDING));
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 1u << 20);
  config.maxQueuedEvents = args.Integer(opts, "maxQueuedEvents", 1, 1u << 24, false, 65536);
  config.target = TargetOptions(args, opts, true);
  Napi::Function onEvents = args.Function(opts, "onEvents");

  std::unique_ptr<ExecOpenSession> session;
  try {
    session = std::make_unique<ExecOpenSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  Open(std::move(session), onEvents);
}

Napi::Value ExecOpenTracer::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<ExecOpenRecord> batch;
  count = session_->Queue().PopBatch(batch, max);
  return EventsToJs(env, batch);
}

ExecOpenTracerStats ExecOpenTracer::CurrentStats() const {
  if (Closed()) return finalStats_;
  ExecOpenTracerStats stats;
  stats.counters = session_->ReadCounters();
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.ring = session_->Ring();
  return stats;
}

void ExecOpenTracer::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object ExecOpenTracer::StatsToJs(Napi::Env env) {
  ExecOpenTracerStats stats = CurrentStats();
  const ExecOpenCounters& c = stats.counters;
  Napi::Object o = Napi::Object::New(env);
  o.Set("execs", Napi::BigInt::New(env, c.values[EXECOPEN_COUNTER_EXECS]));
  o.Set("opens", Napi::BigInt::New(env, c.values[EXECOPEN_COUNTER_OPENS]));
  o.Set("noStart", Napi::BigInt::New(env, c.values[EXECOPEN_COUNTER_NO_START]));
  o.Set("overBudget", Napi::BigInt::New(env, c.values[EXECOPEN_COUNTER_OVER_BUDGET]));
  o.Set("kernelDrops", Napi::BigInt::New(env, c.values[EXECOPEN_COUNTER_DROPS]));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

Napi::Value ExecOpenTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "ExecOpenTracer");
}

Napi::Value ExecOpenTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "ExecOpenTracer");
}

Napi::Value ExecOpenLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(execopen_event, field)))
  OFFSET(ts_ns);
  OFFSET(pid);
  OFFSET(tid);
  OFFSET(ppid);
  OFFSET(uid);
  OFFSET(ret);
  OFFSET(flags);
  OFFSET(mode);
  OFFSET(dfd);
  OFFSET(data_size);
  OFFSET(args_count);
  OFFSET(kind);
  OFFSET(syscall);
  OFFSET(truncated);
  OFFSET(comm);
  OFFSET(data);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(execopen_event)));
  layout.Set("openArgsSize", static_cast<uint32_t>(sizeof(execopen_open_args)));
  layout.Set("offsets", offsets);
  layout.Set("EXECOPEN_MAX_ARGS", EXECOPEN_MAX_ARGS);
  layout.Set("EXECOPEN_ARG_BYTES", EXECOPEN_ARG_BYTES);
  layout.Set("EXECOPEN_DATA_BYTES", EXECOPEN_DATA_BYTES);
  layout.Set("EXECOPEN_PATH_BYTES", EXECOPEN_PATH_BYTES);
  layout.Set("EXECOPEN_HEADER_BYTES", EXECOPEN_HEADER_BYTES);
  layout.Set("EXECOPEN_COUNTER_MAX", EXECOPEN_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
