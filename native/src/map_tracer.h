// Map-aggregated tracers (syscount, runqlat, biolatency): the kernel fills maps that user space reads whole when it
// reports. Nothing streams, so there is no ring buffer and no poll thread (RingBufferObject serves those).
// MapSession is the object, its links, its pid set and its "counters" array (no Node); MapTracer is the JS class
// around one session: start / read / stop / close / addTargetPid / removeTargetPid, read() being the subclass's.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rodata.h"
#include "target_set.h"

struct bpf_object;
struct bpf_map;
struct bpf_link;

namespace tracefleet {

class MapSession {
 public:
  // Opens the file; throws std::runtime_error naming it, with libbpf's message. `programs`: what Attach attaches
  // (each by its SEC, bpf_program__attach).
  MapSession(const std::string& path, std::vector<std::string> programs);
  // Detaches, then closes the object.
  virtual ~MapSession();
  MapSession(const MapSession&) = delete;
  MapSession& operator=(const MapSession&) = delete;

  // Idempotent; on a failure nothing stays attached.
  void Attach();
  void Detach();
  // One key of the per-CPU "counters" array, summed over the CPUs.
  uint64_t Counter(uint32_t index) const;
  TargetPids& Targets() { return targets_; }

 protected:
  const std::string& Name() const { return name_; }
  bpf_object* Object() const { return object_; }
  // Throws "<object>: no map <name> (rebuild it)" when the object lacks it.
  bpf_map* FindMap(const char* name) const;
  void SetMaxEntries(bpf_map* map, uint32_t entries);
  // Sets the read-only globals (values and the target's), prepares the pid set and loads (the verifier log in the
  // error). Maps are sized before.
  void Load(std::vector<RodataValue> values, const TargetConfig& target);

 private:
  std::string name_;
  std::vector<std::string> programs_;
  bpf_object* object_ = nullptr;
  bpf_map* counters_ = nullptr;
  std::vector<bpf_link*> links_;
  TargetPids targets_;
};

// The JS class of one Session (a MapSession). Derived has `static constexpr const char* kName`, a constructor that
// parses its options and calls Create, and `Napi::Value Read(const Napi::CallbackInfo&)`.
template <typename Derived, typename Session>
class MapTracer : public Napi::ObjectWrap<Derived> {
 public:
  static Napi::Function Define(Napi::Env env) {
    using Wrap = Napi::ObjectWrap<Derived>;
    return Wrap::DefineClass(env, Derived::kName,
                             {Wrap::InstanceMethod("start", &Derived::Start), Wrap::InstanceMethod("read", &Derived::Read),
                              Wrap::InstanceMethod("stop", &Derived::Stop), Wrap::InstanceMethod("close", &Derived::Close),
                              Wrap::InstanceMethod("addTargetPid", &Derived::AddTargetPid),
                              Wrap::InstanceMethod("removeTargetPid", &Derived::RemoveTargetPid)});
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Session& session = Open(info.Env(), "start");
    try {
      session.Attach();
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string(Derived::kName) + ".start(): " + e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Open(info.Env(), "stop").Detach();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    session_.reset();
    return info.Env().Undefined();
  }

  Napi::Value AddTargetPid(const Napi::CallbackInfo& info) {
    return AddTargetPidJs(info, session_ ? &session_->Targets() : nullptr, Derived::kName);
  }

  Napi::Value RemoveTargetPid(const Napi::CallbackInfo& info) {
    return RemoveTargetPidJs(info, session_ ? &session_->Targets() : nullptr, Derived::kName);
  }

 protected:
  explicit MapTracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

  // Opens and loads the session; its error becomes a JS Error.
  template <typename Config>
  void Create(Napi::Env env, const Config& config) {
    try {
      session_ = std::make_unique<Session>(config);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Session& Open(Napi::Env env, const char* method) {
    if (!session_) throw Napi::Error::New(env, std::string(Derived::kName) + "." + method + "(): the tracer is closed");
    return *session_;
  }

  // Runs fn(session) for read(): its std::exception becomes "<Name>.read(): <message>".
  template <typename Fn>
  auto Reading(Napi::Env env, Fn&& fn) -> decltype(fn(std::declval<Session&>())) {
    Session& session = Open(env, "read");
    try {
      return fn(session);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string(Derived::kName) + ".read(): " + e.what());
    }
  }

 private:
  std::unique_ptr<Session> session_;  // null once closed
};

}  // namespace tracefleet
