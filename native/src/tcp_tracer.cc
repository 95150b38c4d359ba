#include "tcp_tracer.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "args.h"
#include "js_values.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new TcpTracer({ objectPath: string, pid?: integer, comm?: string (1..15 bytes), family?: 4 | 6, "
    "ports?: Array of 0..8 integers 1..65535, maxEvents: integer 0..10000000, maxSockets?: integer 64..1048576, "
    "ringBufferBytes?: power of two >= 4096, maxQueuedEvents?: integer >= 1, " TRACEFLEET_TARGET_CGROUP_USAGE
    ", " TRACEFLEET_TARGET_PIDS_USAGE ", onEvents: (connections: TcpRawConnection[]) => void })";
constexpr uint64_t kMaxEvents = 10'000'000;

std::string Address(uint16_t family, const uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family == AF_INET ? AF_INET : AF_INET6, bytes, text, sizeof(text)) == nullptr) return "?";
  return text;
}

Napi::Array ConnectionsToJs(Napi::Env env, const std::vector<tcp_event>& batch) {
  Napi::Array array = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const tcp_event& e = batch[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", e.pid);
    o.Set("comm", Napi::String::New(env, std::string(e.comm, strnlen(e.comm, TRACEFLEET_COMM_LEN))));
    o.Set("family", e.family == AF_INET ? 4 : 6);
    o.Set("saddr", Address(e.family, e.saddr));
    o.Set("daddr", Address(e.family, e.daddr));
    o.Set("sport", e.sport);
    o.Set("dport", e.dport);
    o.Set("startNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.start_ns)));
    o.Set("endNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.end_ns)));
    o.Set("connectNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.connect_ns)));
    o.Set("rxBytes", Napi::BigInt::New(env, static_cast<uint64_t>(e.rx_bytes)));
    o.Set("txBytes", Napi::BigInt::New(env, static_cast<uint64_t>(e.tx_bytes)));
    o.Set("active", e.active != 0);
    o.Set("pidSource", e.pid_source == TCP_PID_CONNECT ? "connect" : e.pid_source == TCP_PID_CLOSE ? "close" : "current");
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

}  // namespace

Napi::Function TcpTracer::Define(Napi::Env env) {
  return DefineClass(env, "TcpTracer",
                     {InstanceMethod<&TcpTracer::Start>("start"), InstanceMethod<&TcpTracer::Stop>("stop"),
                      InstanceMethod<&TcpTracer::Stats>("stats"), InstanceMethod<&TcpTracer::Close>("close"),
                      InstanceMethod<&TcpTracer::AddTargetPid>("addTargetPid"),
                      InstanceMethod<&TcpTracer::RemoveTargetPid>("removeTargetPid")});
}

TcpTracer::TcpTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpTracer>(info), EventStream("TcpTracer") {
  Args args(info.Env(), kUsage);
  if (!info.IsConstructCall()) args.Fail("TcpTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "comm", "family", "ports", "maxEvents", "maxSockets", "ringBufferBytes",
                                "maxQueuedEvents", "targetCgroup", "targetPids", "onEvents"});
  TcpConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 0, INT32_MAX, false, 0));
  config.comm = args.Comm(opts, "comm");
  if (!opts.Get("family").IsUndefined()) {
    const uint64_t family = args.Integer(opts, "family", 4, 6, true, 0);
    if (family == 5) args.Fail("option family must be 4 or 6");
    config.family = family == 4 ? AF_INET : AF_INET6;
  }
  if (!opts.Get("ports").IsUndefined()) {
    Napi::Array ports = args.Array(opts, "ports", 0, TCP_MAX_PORTS);
    for (uint32_t i = 0; i < ports.Length(); i++) {
      const std::string name = "option ports[" + std::to_string(i) + "]";
      config.ports.push_back(static_cast<uint16_t>(args.IntegerArg(ports.Get(i), name.c_str(), 1, 65535)));
    }
  }
  config.maxEvents = args.Integer(opts, "maxEvents", 0, kMaxEvents, true, 0);
  config.maxSockets = static_cast<uint32_t>(args.Integer(opts, "maxSockets", 64, 1u << 20, false, TCP_DEFAULT_MAX_SOCKETS));
  config.ringBufferBytes = args.RingBufferBytes(opts, "ringBufferBytes", 4096, 1u << 20);
  config.maxQueuedEvents = args.Integer(opts, "maxQueuedEvents", 1, 1u << 24, false, 65536);
  config.target = TargetOptions(args, opts, true);
  Napi::Function onEvents = args.Function(opts, "onEvents");

  std::unique_ptr<TcpSession> session;
  try {
    session = std::make_unique<TcpSession>(config);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  session_ = session.get();
  Open(std::move(session), onEvents);
}

Napi::Value TcpTracer::TakeBatch(Napi::Env env, size_t max, size_t& count) {
  std::vector<tcp_event> batch;
  count = session_->Queue().PopBatch(batch, max);
  return ConnectionsToJs(env, batch);
}

TcpTracerStats TcpTracer::CurrentStats() const {
  if (Closed()) return finalStats_;
  TcpTracerStats stats;
  stats.counters = session_->ReadCounters();
  stats.queueDrops = session_->Queue().Drops();
  stats.delivered = Delivered();
  stats.ring = session_->Ring();
  return stats;
}

void TcpTracer::SaveFinalStats() noexcept {
  try {
    finalStats_ = CurrentStats();
  } catch (const std::exception&) {
    finalStats_.queueDrops = session_->Queue().Drops();
    finalStats_.delivered = Delivered();
  }
}

Napi::Object TcpTracer::StatsToJs(Napi::Env env) {
  TcpTracerStats stats = CurrentStats();
  const TcpCounters& c = stats.counters;
  Napi::Object o = Napi::Object::New(env);
  o.Set("closed", Napi::BigInt::New(env, c.values[TCP_COUNTER_CLOSED]));
  o.Set("connects", Napi::BigInt::New(env, c.values[TCP_COUNTER_CONNECTS]));
  o.Set("noStart", Napi::BigInt::New(env, c.values[TCP_COUNTER_NO_START]));
  o.Set("untracked", Napi::BigInt::New(env, c.values[TCP_COUNTER_UNTRACKED]));
  o.Set("overBudget", Napi::BigInt::New(env, c.values[TCP_COUNTER_OVER_BUDGET]));
  o.Set("kernelDrops", Napi::BigInt::New(env, c.values[TCP_COUNTER_DROPS]));
  o.Set("queueDrops", Napi::BigInt::New(env, stats.queueDrops));
  o.Set("delivered", Napi::BigInt::New(env, stats.delivered));
  Napi::Array slots = Napi::Array::New(env, TCP_SLOTS);
  for (uint32_t s = 0; s < TCP_SLOTS; s++) slots.Set(s, Napi::BigInt::New(env, c.slots[s]));
  o.Set("connectSlots", slots);
  o.Set("connectTotalNs", Napi::BigInt::New(env, c.totalNs));
  o.Set("ring", RingFillToJs(env, stats.ring));
  return o;
}

Napi::Value TcpTracer::AddTargetPid(const Napi::CallbackInfo& info) {
  return AddTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "TcpTracer");
}

Napi::Value TcpTracer::RemoveTargetPid(const Napi::CallbackInfo& info) {
  return RemoveTargetPidJs(info, Closed() ? nullptr : &session_->Targets(), "TcpTracer");
}

Napi::Value TcpLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(tcp_event, field)))
  OFFSET(start_ns);
  OFFSET(end_ns);
  OFFSET(connect_ns);
  OFFSET(rx_bytes);
  OFFSET(tx_bytes);
  OFFSET(saddr);
  OFFSET(daddr);
  OFFSET(pid);
  OFFSET(sport);
  OFFSET(dport);
  OFFSET(family);
  OFFSET(active);
  OFFSET(pid_source);
  OFFSET(comm);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(tcp_event)));
  layout.Set("sockInfoSize", static_cast<uint32_t>(sizeof(tcp_sock_info)));
  layout.Set("histSize", static_cast<uint32_t>(sizeof(tcp_hist)));
  layout.Set("offsets", offsets);
  layout.Set("TCP_SLOTS", TCP_SLOTS);
  layout.Set("TCP_MAX_PORTS", TCP_MAX_PORTS);
  layout.Set("TCP_DEFAULT_MAX_SOCKETS", TCP_DEFAULT_MAX_SOCKETS);
  layout.Set("TCP_COUNTER_MAX", TCP_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
