// The libbpf side of the TLS plaintext tracer: load ssl.bpf.o, attach and detach (entry, return)
// probe pairs while the poll thread runs, keep the tgid filter map, read the ring buffer and the
// counters. No Node here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"
#include "event_source.h"
#include "python_maps.h"
#include "ring_buffer_object.h"
#include "ssl_event.h"
#include "target_set.h"
#include "unwind_maps.h"

struct bpf_program;
struct bpf_map;
struct bpf_link;

namespace tracefleet {

// SSL_FN_* of ssl.h by name; 0 when the name is none of them.
uint32_t SslFunctionId(const std::string& name);
// The name of an SSL_FN_* id ("SSL_read", ...); "unknown" otherwise.
const char* SslFunctionName(uint32_t fn);
// Go's crypto/tls functions: their own programs (register ABI, calls keyed by goroutine), never a uretprobe.
inline bool IsGoFunction(uint32_t fn) { return fn == SSL_FN_GO_READ || fn == SSL_FN_GO_WRITE; }
// "SSL_read, SSL_write, ..." for messages.
std::string SslFunctionList();

struct SslProbeSpec {
  std::string path;
  uint32_t fn = 0;            // SSL_FN_*
  uint64_t entryOffset = 0;   // file offset where %rdi/%rsi/%rdx/%rcx still hold the arguments
  bool uretprobe = true;      // return probe kind: a uretprobe (returnOffset = the function's entry) or a plain uprobe
  uint64_t returnOffset = 0;  // plain uprobe: a site every return path passes with the return value in %rax
  std::vector<uint64_t> moreReturns;  // plain uprobes: more return sites (Go: each ret of the function)
  int pid = -1;               // -1: every process that maps the file
};

struct SslConfig {
  std::string objectPath;
  uint32_t maxDataBytes = 0;
  bool captureStacks = false;
  bool filterPids = false;  // option pids given (even empty): tgids in the filter map pass
  std::vector<uint32_t> pids;
  std::string comm;         // empty: no comm filter
  std::vector<uint32_t> excludePids;
  uint32_t ringBufferBytes = 8u << 20;
  size_t maxQueuedEvents = 65536;
  UnwindFds unwind;  // valid: user stacks through the agent's unwind tables
  bool python = false;  // with captureStacks: read Python frames of the processes given (PythonMaps)
  TargetConfig target;  // the job's cgroup (target.bpf.h; the pid set here is pids), ANDed with the filters above
  // Content filter: a connection is recorded from its first call starting with one of these (1..16 bytes, no NUL).
  std::vector<std::vector<uint8_t>> prefixes;
  // Headers only (non-empty): a call is recorded only when it starts with one of these; the rest are summed.
  std::vector<std::vector<uint8_t>> messageStarts;
  // Port filter: a connection is recorded when its socket's local or peer port is one of these (up to 16).
  std::vector<uint16_t> ports;
  // One uprobe per link (perf-event uprobes through libbpf) even where the kernel has uprobe_multi links.
  bool perOffsetLinks = false;
};

struct SslRecord {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  uint32_t fn = 0;
  uint32_t attachId = 0;
  int64_t ret = 0;
  uint64_t length = 0;
  uint64_t latencyNs = 0;
  uint64_t ssl = 0;
  uint64_t tsNs = 0;
  std::vector<uint8_t> data;
  bool truncated = false;
  bool readError = false;
  int32_t userStackError = 0;
  std::vector<uint64_t> userStack;
  std::vector<uint64_t> pyFrames;  // innermost first (python.h)
  int32_t pyStatus = 0;
  bool pyTruncated = false;
  uint32_t skippedCalls = 0;
  uint64_t skippedBytes = 0;
};

using SslQueue = BoundedQueue<SslRecord>;

struct SslCounters {
  uint64_t eventsSeen = 0;
  uint64_t kernelDrops = 0;
  uint64_t orphanReturns = 0;
  uint64_t nested = 0;
  uint64_t readErrors = 0;
  uint64_t filtered = 0;
  uint64_t skipped = 0;
  uint64_t noSocket = 0;
};

class SslSession : public EventSource {
 public:
  // Opens and loads the object and fills the filter maps; throws std::runtime_error naming the failed step.
  explicit SslSession(const SslConfig& config);
  ~SslSession() override;
  SslSession(const SslSession&) = delete;
  SslSession& operator=(const SslSession&) = delete;

  // Attachments come through AttachProbes, before or after start().
  void Attach() override {}
  // Detaches every attachment.
  void Detach() override;

  // Attaches every spec's return probes, then the entry probes; returns one id per spec. Where the kernel
  // has uprobe_multi links (uprobe_multi.h), one link per (file, pid, program, uretprobe or not) carries
  // all of this call's offsets; else one libbpf link per offset. On a failure detaches what this call
  // attached and throws naming the functions, the file, the offsets and the errno.
  std::vector<uint32_t> AttachProbes(const std::vector<SslProbeSpec>& specs);
  // Detaches the given attachments (unknown or already detached ids are ignored) and forgets calls
  // they had noted, so a stale note cannot pass for an outer call of its thread. Ids attached by the
  // same AttachProbes call share links: the ones not asked for are attached again at once, under the
  // same ids (their probes are out meanwhile). Links are closed each on its own thread.
  // Callable from a worker thread (SslTracer.detachAsync) while nothing else touches the probes.
  void DetachProbes(const std::vector<uint32_t>& ids);
  size_t Attachments() const;
  // "uprobe_multi" or "perf_event": how uprobes are linked.
  const char* LinkKind() const { return multi_ ? "uprobe_multi" : "perf_event"; }

  // Adds then removes tgids of the filter map; throws when the map is full.
  void UpdatePids(const std::vector<uint32_t>& add, const std::vector<uint32_t>& remove);
  // Where `pid` maps NSS's libssl3.so: PR_Read and friends on descriptors whose methods lie in [lo, hi) are
  // TLS. lo == hi forgets the pid.
  void SetNssLayer(uint32_t pid, uint64_t lo, uint64_t hi);

  int Poll(int timeoutMs) override;
  RingFill Ring() const { return bpf_.Fill(); }
  int Consume() override;
  size_t Queued() override { return queue_.Size(); }

  SslCounters ReadCounters() const;
  std::vector<uint64_t> ReadUnwind() const { return ReadUnwindCounters(bpf_.Object()); }
  SslQueue& Queue() { return queue_; }
  PythonMaps& Python() { return python_; }
  const PythonMaps& Python() const { return python_; }

 private:
  // One AttachProbes call: its ids, its specs (a partial detach attaches the rest again) and its links.
  struct Group {
    std::vector<uint32_t> ids;
    std::vector<SslProbeSpec> specs;
    std::vector<bpf_link*> links;  // perf-event links (bpf_ owns them until released)
    std::vector<int> fds;          // uprobe_multi links
  };
  struct LinkPlan;

  static int OnEvent(void* ctx, void* data, size_t size);
  void SetReadOnlyGlobals();
  void FillMaps();
  Group AttachGroup(const std::vector<SslProbeSpec>& specs, const std::vector<uint32_t>& ids);
  void AttachPlan(const LinkPlan& plan, Group& group);
  void CloseLinks(std::vector<bpf_link*> links, std::vector<int> fds);
  void ForgetCalls(const std::vector<uint32_t>& ids);

  SslConfig config_;
  RingBufferObject bpf_;
  bpf_program* entry_ = nullptr;
  bpf_program* return_ = nullptr;
  bpf_program* goEntry_ = nullptr;  // Go's crypto/tls (SSL_FN_GO_*): register ABI, calls keyed by goroutine
  bpf_program* goReturn_ = nullptr;
  bpf_map* events_ = nullptr;
  bpf_map* calls_ = nullptr;
  bpf_map* goCalls_ = nullptr;  // go_calls: Go's calls, keyed by (tgid, goroutine)
  bpf_map* pidFilter_ = nullptr;
  bpf_map* excluded_ = nullptr;
  bpf_map* nssLayers_ = nullptr;
  bpf_map* counters_ = nullptr;
  std::vector<Group> groups_;
  bool multi_ = false;  // uprobe_multi links
  uint32_t nextId_ = 1;
  SslQueue queue_;
  PythonMaps python_;
};

}  // namespace tracefleet
