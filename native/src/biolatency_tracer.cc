#include "biolatency_tracer.h"

#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "args.h"

namespace tracefleet {
namespace {

constexpr const char* kUsage =
    "new BiolatencyTracer({ objectPath: string, pid?: integer, dev?: integer (major << 20 | minor), perProcess?: boolean, "
    "queued?: boolean, maxRequests?: integer 64..1048576, maxHists?: integer 1..1048576, " TRACEFLEET_TARGET_CGROUP_USAGE
    ", " TRACEFLEET_TARGET_PIDS_USAGE " })";

struct BiolatencyTotals {
  std::vector<BiolatencyHistogram> hists;
  uint64_t ios;
  uint64_t startFull;
  uint64_t noStart;
  uint64_t noHist;
};

Napi::Array Slots(Napi::Env env, const __u64* slots, uint32_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t s = 0; s < n; s++) out.Set(s, Napi::BigInt::New(env, static_cast<uint64_t>(slots[s])));
  return out;
}

}  // namespace

// block_rq_insert is attached only when queued: otherwise each insert would run a program that does nothing.
BiolatencySession::BiolatencySession(const BiolatencyConfig& config)
    : MapSession(config.objectPath, config.queued ? std::vector<std::string>{"on_insert", "on_issue", "on_complete"}
                                                  : std::vector<std::string>{"on_issue", "on_complete"}) {
  perProcess_ = config.perProcess;
  hists_ = FindMap("hists");
  diskHists_ = FindMap("disk_hists");
  SetMaxEntries(FindMap("start"), config.maxRequests);
  // The map this mode does not use keeps one entry.
  SetMaxEntries(hists_, config.perProcess ? config.maxHists : 1);
  SetMaxEntries(diskHists_, config.perProcess ? 1 : config.maxHists);
  const __u32 tgid = config.pid;
  const __u32 dev = config.dev;
  const bool perProcess = config.perProcess;
  const bool queued = config.queued;
  Load({{"target_tgid", &tgid, sizeof(tgid)},
        {"target_dev", &dev, sizeof(dev)},
        {"per_process", &perProcess, sizeof(perProcess)},
        {"queued", &queued, sizeof(queued)}},
       config.target);
}

std::vector<BiolatencyHistogram> BiolatencySession::Read() const {
  std::vector<BiolatencyHistogram> out;
  bpf_map* map = perProcess_ ? hists_ : diskHists_;
  const int cpus = perProcess_ ? 1 : libbpf_num_possible_cpus();
  if (cpus <= 0) throw std::runtime_error("count possible CPUs: " + std::string(std::strerror(-cpus)));
  std::vector<biolat_hist> values(cpus);
  biolat_key key{};
  biolat_key next{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
    if (bpf_map__lookup_elem(map, &next, sizeof(next), values.data(), values.size() * sizeof(biolat_hist), 0) == 0) {
      BiolatencyHistogram h{};
      h.key = next;
      for (const biolat_hist& v : values) {
        for (uint32_t s = 0; s < BIOLAT_LAT_SLOTS; s++) h.hist.lat[s] += v.lat[s];
        for (uint32_t s = 0; s < BIOLAT_SIZE_SLOTS; s++) h.hist.size[s] += v.size[s];
        h.hist.total_ns += v.total_ns;
        h.hist.total_bytes += v.total_bytes;
      }
      out.push_back(h);
    }
    key = next;
    prev = &key;
  }
  return out;
}

BiolatencyTracer::BiolatencyTracer(const Napi::CallbackInfo& info) : MapTracer(info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  if (!info.IsConstructCall()) args.Fail("BiolatencyTracer must be called with new");
  Napi::Object opts = args.Object(info[0], "options");
  args.RejectUnknownKeys(opts, {"objectPath", "pid", "dev", "perProcess", "queued", "maxRequests", "maxHists",
                                "targetCgroup", "targetPids"});
  BiolatencyConfig config;
  config.objectPath = args.String(opts, "objectPath", true);
  if (config.objectPath.empty()) args.Fail("option objectPath must not be empty");
  config.pid = static_cast<uint32_t>(args.Integer(opts, "pid", 1, INT32_MAX, false, 0));
  config.dev = static_cast<uint32_t>(args.Integer(opts, "dev", 1, UINT32_MAX, false, 0));
  config.perProcess = args.Boolean(opts, "perProcess", false);
  config.queued = args.Boolean(opts, "queued", false);
  config.maxRequests =
      static_cast<uint32_t>(args.Integer(opts, "maxRequests", 64, 1u << 20, false, BIOLAT_DEFAULT_MAX_REQUESTS));
  config.maxHists = static_cast<uint32_t>(args.Integer(opts, "maxHists", 1, 1u << 20, false,
                                                            config.perProcess ? BIOLAT_DEFAULT_MAX_HISTS : BIOLAT_DEFAULT_MAX_DISKS));
  config.target = TargetOptions(args, opts, true);
  Create(env, config);
}

Napi::Value BiolatencyTracer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BiolatencyTotals totals = Reading(env, [](BiolatencySession& session) {
    return BiolatencyTotals{session.Read(), session.Counter(BIOLAT_COUNTER_IOS), session.Counter(BIOLAT_COUNTER_START_FULL),
                            session.Counter(BIOLAT_COUNTER_NO_START), session.Counter(BIOLAT_COUNTER_NO_HIST)};
  });
  Napi::Array list = Napi::Array::New(env, totals.hists.size());
  for (size_t i = 0; i < totals.hists.size(); i++) {
    const BiolatencyHistogram& h = totals.hists[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("major", h.key.dev >> 20);
    o.Set("minor", h.key.dev & 0xfffff);
    o.Set("pid", h.key.tgid);
    o.Set("comm", std::string(h.key.comm, strnlen(h.key.comm, TRACEFLEET_COMM_LEN)));
    o.Set("latency", Slots(env, h.hist.lat, BIOLAT_LAT_SLOTS));
    o.Set("size", Slots(env, h.hist.size, BIOLAT_SIZE_SLOTS));
    o.Set("totalNs", Napi::BigInt::New(env, static_cast<uint64_t>(h.hist.total_ns)));
    o.Set("totalBytes", Napi::BigInt::New(env, static_cast<uint64_t>(h.hist.total_bytes)));
    list.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("histograms", list);
  result.Set("ios", Napi::BigInt::New(env, totals.ios));
  result.Set("startFull", Napi::BigInt::New(env, totals.startFull));
  result.Set("noStart", Napi::BigInt::New(env, totals.noStart));
  result.Set("noHist", Napi::BigInt::New(env, totals.noHist));
  return result;
}

Napi::Value BiolatencyLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("startSize", static_cast<uint32_t>(sizeof(biolat_start)));
  layout.Set("keySize", static_cast<uint32_t>(sizeof(biolat_key)));
  layout.Set("histSize", static_cast<uint32_t>(sizeof(biolat_hist)));
  layout.Set("sizeOffset", static_cast<uint32_t>(offsetof(biolat_hist, size)));
  layout.Set("totalNsOffset", static_cast<uint32_t>(offsetof(biolat_hist, total_ns)));
  layout.Set("BIOLAT_LAT_SLOTS", BIOLAT_LAT_SLOTS);
  layout.Set("BIOLAT_SIZE_SLOTS", BIOLAT_SIZE_SLOTS);
  layout.Set("BIOLAT_DEFAULT_MAX_REQUESTS", BIOLAT_DEFAULT_MAX_REQUESTS);
  layout.Set("BIOLAT_DEFAULT_MAX_HISTS", BIOLAT_DEFAULT_MAX_HISTS);
  layout.Set("BIOLAT_DEFAULT_MAX_DISKS", BIOLAT_DEFAULT_MAX_DISKS);
  layout.Set("BIOLAT_COUNTER_MAX", BIOLAT_COUNTER_MAX);
  return layout;
}

}  // namespace tracefleet
