#include "ssl_tracer.h"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "unwinder.h"
#include "js_values.h"
#include "ssl_event.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new SslTracer({ objectPath: string, maxDataBytes: integer 0..16384, captureStacks?: boolean, "
    "pids?: integer[] (tgids, up to 4096), comm?: string of 1..15 bytes, excludePids?: integer[] (up to 64), "
    "ringBufferBytes?: power of two >= 4096, maxQueuedEvents?: integer >= 1, unwinder?: Unwinder, python?: boolean, "
    "prefixes?: Buffer[] (up to 16, 1..16 bytes, no NUL), messageStarts?: Buffer[] (the same; non-empty: headers only), "
    "ports?: integer[] (1..65535, up to 16), perOffsetLinks?: boolean, "
    TRACEFLEET_TARGET_CGROUP_USAGE ", onEvents: (events: SslRawEvent[]) => void })";
constexpr const char* kAttachUsage =
    "tracer.attach(probes: Array of { path: string, fn: 'SSL_read' | 'SSL_write' | 'SSL_read_ex' | 'SSL_write_ex' | "
    "'SSL_do_handshake' | 'gnutls_record_recv' | 'gnutls_record_send' | 'crypto/tls.(*Conn).Read' | 'crypto/tls.(*Conn).Write', "
    "entryOffset: bigint, returnKind: 'uretprobe' | 'uprobe', returnOffset: bigint, moreReturns?: bigint[] (up to 64), pid?: integer (-1 = "
    "every process) })";
constexpr const char* kDetachUsage = "tracer.detach(ids: integer[])";
constexpr const char* kDetachAsyncUsage = "tracer.detachAsync(ids: integer[]): Promise<void>";
constexpr const char* kSetPidsUsage = "tracer.setPids(add: integer[], remove?: integer[])";
constexpr const char* kSetNssLayerUsage = "tracer.setNssLayer(pid: integer, lo: bigint, hi: bigint) (lo = hi = 0n forgets the pid)";
constexpr uint32_t kMaxProbesPerCall = 4096;
constexpr uint32_t kMaxReturnSites = 64;

std::vector<uint32_t> Integers(const Args& args, const Napi::Value& value, const std::string& name, uint64_t min, uint64_t max,
                               size_t maxCount) {
  if (!value.IsArray()) args.Fail(name + " must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > maxCount) args.Fail(name + " must have at most " + std::to_string(maxCount) + " elements, got " + std::to_string(array.Length()));
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < array.Length(); i++) {
    out.push_back(static_cast<uint32_t>(args.IntegerArg(array.Get(i), (name + "[" + std::to_string(i) + "]").c_str(), min, max)));
  }
  return out;
}

SslProbeSpec ProbeSpec(const Args& args, const Napi::Value& value, uint32_t index) {
  const std::string where = "probes[" + std::to_string(index) + "]";
  Napi::Object entry = args.Object(value, where.c_str());
  args.RejectUnknownKeys(entry, {"path", "fn", "entryOffset", "returnKind", "returnOffset", "moreReturns", "pid"}, where + ".");
  SslProbeSpec spec;
  spec.path = args.StringArg(entry.Get("path"), where + ".path");
  if (spec.path.empty()) args.Fail(where + ".path must not be empty");
  std::string fn = args.StringArg(entry.Get("fn"), where + ".fn");
  spec.fn = SslFunctionId(fn);
  if (spec.fn == 0) args.Fail(where + ".fn must be one of " + SslFunctionList() + ", got \"" + fn + "\"");
  spec.entryOffset = args.BigIntArg(entry.Get("entryOffset"), where + ".entryOffset");
  std::string kind = args.StringArg(entry.Get("returnKind"), where + ".returnKind");
  if (kind != "uretprobe" && kind != "uprobe") args.Fail(where + ".returnKind must be 'uretprobe' or 'uprobe', got \"" + kind + "\"");
  spec.uretprobe = kind == "uretprobe";
  spec.returnOffset = args.BigIntArg(entry.Get("returnOffset"), where + ".returnOffset");
  Napi::Value more = entry.Get("moreReturns");
  if (!more.IsUndefined()) {
    if (!more.IsArray()) args.Fail(where + ".moreReturns must be an array of bigint file offsets");
    Napi::Array list = more.As<Napi::Array>();
    if (list.Length() > kMaxReturnSites) args.Fail(where + ".moreReturns must have at most " + std::to_string(kMaxReturnSites) + " offsets");
    if (list.Length() > 0 && spec.uretprobe) args.Fail(where + ".moreReturns needs returnKind 'uprobe' (a uretprobe has one site: the entry)");
    for (uint32_t i = 0; i < list.Length(); i++) {
      spec.moreReturns.push_back(args.BigIntArg(list.Get(i), where + ".moreReturns[" + std::to_string(i) + "]"));
    }
  }
  if (IsGoFunction(spec.fn) && spec.uretprobe) args.Fail(where + ": " + fn + " cannot return through a uretprobe (it corrupts Go stacks that move); give returnKind 'uprobe' on its ret sites");
  Napi::Value pid = entry.Get("pid");
  if (!pid.IsUndefined() && !(pid.IsNumber() && pid.As<Napi::Number>().DoubleValue() == -1)) {
    spec.pid = static_cast<int>(args.IntegerArg(pid, (where + ".pid").c_str(), 1, INT32_MAX));
  }
  return spec;
}

// Byte strings of the content filter or headers-only mode; the session checks their sizes and bytes.
std::vector<std::vector<uint8_t>> ByteStrings(const Args& args, const Napi::Value& value, const std::string& name) {
  std::vector<std::vector<uint8_t>> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) args.Fail(name + " must be an array of Buffers");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > SSL_MAX_PREFIXES) args.Fail(name + " must have at most " + std::to_string(SSL_MAX_PREFIXES) + " elements, got " + std::to_string(array.Length()));
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value v = array.Get(i);
    if (!v.IsBuffer()) args.Fail(name + "[" + std::to_string(i) + "] must be a Buffer");
    Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
    if (b.Length() < 1 || b.Length() > SSL_PREFIX_BYTES) args.Fail(name + "[" + std::to_string(i) + "] must be 1 to " + std::to_string(SSL_PREFIX_BYTES) + " bytes, got " + std::to_string(b.Length()));
    out.emplace_back(b.Data(), b.Data() + b.Length());
    for (uint8_t byte : out.back()) {
      if (byte == 0) args.Fail(name + "[" + std::to_string(i) + "] must not hold a NUL byte");
    }
  }
  return out;
}

Napi::Array EventsToJs(Napi::Env env, const std::vector<SslRecord>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const SslRecord& r = batch[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", r.pid);
    o.Set("tid", r.tid);
    o.Set("comm", Napi::String::New(env, r.comm));
    o.Set("fn", SslFunctionName(r.fn));
    o.Set("attachId", r.attachId);
    o.Set("ret", static_cast<double>(r.ret));
    o.Set("length", static_cast<double>(r.length));
    o.Set("latencyNs", static_cast<double>(r.latencyNs));
    o.Set("ssl", Napi::BigInt::New(env, r.ssl));
    o.Set("tsNs", Napi::BigInt::New(env, r.tsNs));
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, r.data.data(), r.data.size()));
    o.Set("truncated", r.truncated);
    o.Set("readError", r.readError);
    o.Set("userStack", Addresses(env, r.userStack));
    o.Set("userStackError", r.userStackError);
    o.Set("pyFrames", Addresses(env, r.pyFrames));
    o.Set("pyStatus", r.pyStatus);
    o.Set("pyTruncated", r.pyTruncated);
    o.Set("skippedCalls", r.skippedCalls);
    o.Set("skippedBytes", static_cast<double>(r.skippedBytes));
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function SslTracer::Define(Napi::Env env) {
  return DefineClass(env, "SslTracer",
                     {InstanceMethod<&SslTracer::Start>("start"), InstanceMethod<&SslTracer::Attach>("attach"),
                      InstanceMethod<&SslTracer::Detach>("detach"), InstanceMethod<&SslTracer::DetachAsync>("detachAsync"), InstanceMethod<&SslTracer::SetPids>("setPids"),
                      InstanceMethod<&SslTracer::SetNssLayer>("setNssLayer"),
                      InstanceMethod<&SslTracer::SetPythonProcess>("setPythonProcess"),
                      InstanceMethod<&SslTracer::ForgetPythonProcess>("forgetPythonProcess"),
                      InstanceMethod<&SslTracer::Stop>("stop"), InstanceMethod<&SslTracer::Stats>("stats"),
                      InstanceMethod<&SslTracer::LinkKind>("linkKind"),
                      InstanceMethod<&SslTracer::Close>("close")});
}

SslTracer::SslTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SslTracer>(info), EventStream("SslTracer") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("SslTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "maxDataBytes", "captureStacks", "pids", "comm", "excludePids", "ringBufferBytes",
                                "maxQueuedEvents", "unwinder", "python", "targetCgroup", "prefixes", "messageStarts", "ports", "perOffsetLinks", "onEvents"});
  SslConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.maxDataBytes = static_cast<uint32_t>(args.Integer(opts, "maxDataBytes", 0, SSL_MAX_DATA, true, 0));
  config.captureStacks = args.Boolean(opts, "captureStacks", false);
  Napi::Value pids = opts.Get("pids");
  if (!pids.IsUndefined()) {
    config.filterPids = true;
    config.pids = Integers(args, pids, "option pids", 1, INT32_MAX, SSL_MAX_PIDS);
  }
  config.comm = args.Comm(opts, "comm");
  Napi::Value exclude = opts.Get("excludePids");
  if (!exclude.IsUndefined()) config.excludePids = Integers(args, exclude, "option excludePids", 1, INT32_MAX, SSL_MAX_EXCLUDED);
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 8u << 20);
  config.maxQueuedEvents = args.Integer(opts, "maxQueuedEvents", 1, 1u << 24, false, 65536);
  config.unwind = Unwinder::FdsOf(info.Env(), opts.Get("unwinder"), kUsage);
  config.python = args.Boolean(opts, "python", false);
  config.target = TargetOptions(args, opts, false);
  config.prefixes = ByteStrings(args, opts.Get("prefixes"), "option prefixes");
  config.messageStarts = ByteStrings(args, opts.Get("messageStarts"), "option messageStarts");
  Napi::Value ports = opts.Get("ports");
  if (!ports.IsUndefined()) {
    for (uint32_t port : Integers(args, ports, "option ports", 1, 65535, SSL_MAX_PORTS)) config.ports.push_back(static_cast<uint16_t>(port));
  }
  config.perOffsetLinks = args.Boolean(opts, "perOffsetLinks", false);
  Napi::Function onEvents = args.Function(opts, "onEvents");
  filterPids_ = config.filterPids;

  std::unique_ptr<SslSession> session;
  try {
    session = std::make_unique<SslSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  linkKind_ = session_->LinkKind();
  Open(std::move(session), onEvents);
}

Napi::Value SslTracer::LinkKind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), linkKind_); }

Napi::Value SslTracer::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kAttachUsage);
  if (!info[0].IsArray()) args.Fail("probes must be an array");
  Napi::Array probes = info[0].As<Napi::Array>();
  if (probes.Length() > kMaxProbesPerCall) args.Fail("probes must have at most " + std::to_string(kMaxProbesPerCall) + " elements");
  std::vector<SslProbeSpec> specs;
  for (uint32_t i = 0; i < probes.Length(); i++) specs.push_back(ProbeSpec(args, probes.Get(i), i));
  RequireNotStopped(env, "attach");
  RequireIdle(env, "attach");
  std::vector<uint32_t> ids;
  try {
    ids = session_->AttachProbes(specs);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Array result = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) result.Set(static_cast<uint32_t>(i), ids[i]);
  return result;
}

Napi::Value SslTracer::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kDetachUsage);
  std::vector<uint32_t> ids = Integers(args, info[0], "ids", 0, UINT32_MAX, SIZE_MAX);
  RequireIdle(env, "detach");
  if (!Closed()) session_->DetachProbes(ids);  // once closed, everything is detached already
  return env.Undefined();
}

void SslTracer::RequireIdle(Napi::Env env, const char* what) const {
  if (detaching_) throw Napi::Error::New(env, std::string("SslTracer.") + what + "(): a detachAsync() is still running; await it first");
}

// Unregistering a uprobe waits for an RCU grace period in the kernel (~0.1 s each, measured on 6.18):
// detaching a file's probes that way would stall the JS thread. The worker does it on the libuv pool;
// the tracer refuses every other probe change, stop and close until it is done.
class SslDetachWorker : public Napi::AsyncWorker {
 public:
  SslDetachWorker(Napi::Env env, SslTracer* tracer, std::vector<uint32_t> ids)
      : Napi::AsyncWorker(env), tracer_(tracer), ids_(std::move(ids)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      tracer_->session_->DetachProbes(ids_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Done();
    deferred_.Resolve(Env().Undefined());
  }

  void OnError(const Napi::Error& e) override {
    Done();
    deferred_.Reject(e.Value());
  }

 private:
  void Done() {
    tracer_->detaching_ = false;
    tracer_->Unref();
  }

  SslTracer* tracer_;
  std::vector<uint32_t> ids_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value SslTracer::DetachAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kDetachAsyncUsage);
  std::vector<uint32_t> ids = Integers(args, info[0], "ids", 0, UINT32_MAX, SIZE_MAX);
  RequireIdle(env, "detachAsync");
  if (Closed() || ids.empty()) {
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  auto* worker = new SslDetachWorker(env, this, std::move(ids));
  detaching_ = true;
  Ref();  // the tracer outlives the worker
  worker->Queue();
  return worker->Promise();
}

Napi::Value SslTracer::SetPids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kSetPidsUsage);
  std::vector<uint32_t> add = Integers(args, info[0], "add", 1, INT32_MAX, SIZE_MAX);
  std::vector<uint32_t> remove;
  if (!info[1].IsUndefined()) remove = Integers(args, info[1], "remove", 1, INT32_MAX, SIZE_MAX);
  if (!filterPids_) {
    throw Napi::Error::New(env, "SslTracer.setPids(): this tracer was created without option pids, so it does not filter by "
                                "pid (pass pids: [] to start with an empty filter)");
  }
  if (Closed()) throw Napi::Error::New(env, "SslTracer.setPids(): this SslTracer is closed");
  try {
    session_->UpdatePids(add, remove);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("SslTracer.setPids(): ") + e.what());
  }
  return env.Undefined();
}

Napi::Value SslTracer::SetNssLayer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kSetNssLayerUsage);
  const uint32_t pid = static_cast<uint32_t>(args.IntegerArg(info[0], "pid", 1, INT32_MAX));
  const uint64_t lo = args.BigIntArg(info[1], "lo");
  const uint64_t hi = args.BigIntArg(info[2], "hi");
  if (lo > hi) args.Fail("lo must not be above hi");
  if (Closed()) throw Napi::Error::New(env, "SslTracer.setNssLayer(): this SslTracer is closed");
  try {
    session_->SetNssLayer(pid, lo, hi);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("SslTracer.setNssLayer(): ") + e.what());
  }
  return env.Undefined();
}

Napi::Value SslTracer::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<SslRecord> batch;
  count = session_->Queue().PopBatch(batch, max);
  return EventsToJs(env, batch);
}

SslTracerStats SslTracer::CurrentStats() const {
  if (Closed()) return finalStats_;
  SslTracerStats stats;
  stats.kernel = session_->ReadCounters();
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.unwind = session_->ReadUnwind();
  stats.python = session_->Python().ReadCounters();
  stats.ring = session_->Ring();
  return stats;
}

void SslTracer::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    // Counters unreadable: keep what the queue and delivery counts know.
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object SslTracer::StatsToJs(Napi::Env env) {
  SslTracerStats stats = CurrentStats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("eventsSeen", Napi::BigInt::New(env, stats.kernel.eventsSeen));
  o.Set("kernelDrops", Napi::BigInt::New(env, stats.kernel.kernelDrops));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  o.Set("orphanReturns", Napi::BigInt::New(env, stats.kernel.orphanReturns));
  o.Set("nested", Napi::BigInt::New(env, stats.kernel.nested));
  o.Set("readErrors", Napi::BigInt::New(env, stats.kernel.readErrors));
  o.Set("filtered", Napi::BigInt::New(env, stats.kernel.filtered));
  o.Set("skipped", Napi::BigInt::New(env, stats.kernel.skipped));
  o.Set("noSocket", Napi::BigInt::New(env, stats.kernel.noSocket));
  o.Set("unwind", UnwindCountersToJs(env, stats.unwind));
  o.Set("python", PythonCountersToJs(env, stats.python));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

Napi::Value SslTracer::SetPythonProcess(const Napi::CallbackInfo& info) {
  return SetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value SslTracer::ForgetPythonProcess(const Napi::CallbackInfo& info) {
  return ForgetPythonProcessJs(info, Closed() ? nullptr : &session_->Python());
}

Napi::Value SslLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(ssl_event, field)))
  OFFSET(ts_ns);
  OFFSET(latency_ns);
  OFFSET(ssl);
  OFFSET(ret);
  OFFSET(length);
  OFFSET(pid);
  OFFSET(tid);
  OFFSET(comm);
  OFFSET(fn);
  OFFSET(attach_id);
  OFFSET(data_len);
  OFFSET(flags);
  OFFSET(stack_bytes);
  OFFSET(py_frames_count);
  OFFSET(py_truncated);
  OFFSET(skipped_calls);
  OFFSET(pad);
  OFFSET(skipped_bytes);
#undef OFFSET
  Napi::Object callOffsets = Napi::Object::New(env);
#define OFFSET(field) callOffsets.Set(#field, static_cast<uint32_t>(offsetof(ssl_call, field)))
  OFFSET(ssl);
  OFFSET(buf);
  OFFSET(num);
  OFFSET(lenptr);
  OFFSET(ts_ns);
  OFFSET(cookie);
  OFFSET(depth);
  OFFSET(sock_fd);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(ssl_event)));
  layout.Set("offsets", offsets);
  layout.Set("callSize", static_cast<uint32_t>(sizeof(ssl_call)));
  layout.Set("callOffsets", callOffsets);
#define CONSTANT(name) layout.Set(#name, static_cast<double>(name))
  CONSTANT(SSL_MAX_DATA);
  CONSTANT(SSL_DATA_CHUNK);
  CONSTANT(SSL_MAX_CALLS);
  CONSTANT(SSL_MAX_PIDS);
  CONSTANT(SSL_MAX_EXCLUDED);
  CONSTANT(SSL_NEST_MAX_AGE_NS);
  CONSTANT(SSL_FN_READ);
  CONSTANT(SSL_FN_WRITE);
  CONSTANT(SSL_FN_READ_EX);
  CONSTANT(SSL_FN_WRITE_EX);
  CONSTANT(SSL_FN_DO_HANDSHAKE);
  CONSTANT(SSL_FN_GNUTLS_RECV);
  CONSTANT(SSL_FN_GNUTLS_SEND);
  CONSTANT(SSL_FN_GO_READ);
  CONSTANT(SSL_FN_GO_WRITE);
  CONSTANT(SSL_FN_MAX);
  CONSTANT(SSL_COOKIE_FN_BITS);
  CONSTANT(SSL_FLAG_TRUNCATED);
  CONSTANT(SSL_FLAG_READ_ERROR);
  CONSTANT(SSL_COUNTER_EVENTS_SEEN);
  CONSTANT(SSL_COUNTER_KERNEL_DROPS);
  CONSTANT(SSL_COUNTER_ORPHAN_RETURNS);
  CONSTANT(SSL_COUNTER_NESTED);
  CONSTANT(SSL_COUNTER_READ_ERRORS);
  CONSTANT(SSL_COUNTER_FILTERED);
  CONSTANT(SSL_COUNTER_SKIPPED);
  CONSTANT(SSL_COUNTER_MAX);
  CONSTANT(SSL_MAX_CONNS);
  CONSTANT(SSL_MAX_PREFIXES);
  CONSTANT(SSL_PREFIX_BYTES);
  CONSTANT(SSL_MAX_PORTS);
  CONSTANT(SSL_FN_NSS_READ);
  CONSTANT(SSL_FN_NSS_WRITE);
  CONSTANT(SSL_FN_NSS_RECV);
  CONSTANT(SSL_FN_NSS_SEND);
  CONSTANT(SSL_MAX_NSS);
  CONSTANT(SSL_COUNTER_NO_SOCKET);
#undef CONSTANT
  return layout;
}

}  // namespace tracefleet
