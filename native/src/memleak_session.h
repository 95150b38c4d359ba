// The libbpf side of the leak tracer: load memleak.bpf.o for one process's libc (user mode) or
// for the kmem/percpu tracepoints (kernel mode), attach, detach, and read the live-allocation
// map grouped by stack. No Node here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "memleak_python.h"
#include "target_set.h"
#include "unwind_maps.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct memleak_alloc;

namespace tracefleet {

struct MemleakConfig {
  std::string objectPath;
  bool kernelMode = false;
  uint32_t pid = 0;                            // user mode: the target process
  std::string libc;                            // user mode: empty = the libc.so the process maps
  std::map<std::string, uint64_t> entryOffsets;  // function → file offset of its entry probe
  std::vector<uint64_t> mallocReturns;  // malloc's ret sites: a plain uprobe on each, no entry probe (size from the chunk header)
  std::vector<uint64_t> mallocInside;   // with mallocReturns: emulated return sites inside malloc's frame (needs `unwind`)
  bool MallocAtReturns() const { return !mallocReturns.empty() || !mallocInside.empty(); }
  uint32_t maxAllocs = 1000000;
  uint64_t sampleEvery = 1;
  uint64_t sampleBytes = 0;
  uint32_t stackDepth = 127;
  // Buckets (and entries) of the stack_traces map; stacks that collide there go to stack_overflow.
  uint32_t stackMapEntries = 16384;
  UnwindFds unwind;  // valid (user mode): user stacks through the agent's unwind tables
  bool python = false;  // user mode: read the Python frames of each allocation (the process given with setPythonProcess)
  TargetConfig target;  // the job's cgroup (target.bpf.h; no pid set here): allocations of other tasks are left out
};

// The functions user mode probes, in attach order.
const std::vector<std::string>& MemleakUserFunctions();

struct MemleakStack {
  int32_t stackId = 0;  // < 0: bpf_get_stackid's errno; frames is then empty
  uint64_t bytes = 0;
  uint64_t count = 0;
  uint64_t oldestNs = 0;
  std::vector<uint64_t> frames;  // leaf first; user frames in user mode, kernel frames in kernel mode
  // The Python frames the allocations were made under (python.h): one group per native stack and Python chain.
  uint32_t pyStackId = 0;          // key in py_stacks; 0: none
  std::vector<uint64_t> pyFrames;  // innermost first
  int32_t pyStatus = 0;            // frames, 0 for none, or a PY_ERR_*
  bool pyTruncated = false;
};

struct MemleakCounters {
  uint64_t allocsSeen = 0;
  uint64_t allocsTraced = 0;
  uint64_t frees = 0;
  uint64_t freesMatched = 0;
  uint64_t untracked = 0;
  uint64_t stackErrors = 0;
  uint64_t pyStackErrors = 0;  // Python frames read but not kept: py_stacks full
};

struct MemleakSnapshotData {
  uint64_t nowNs = 0;
  uint32_t stackMapEntries = 0;  // stacks kept in the kernel's stack map after trimming
  uint32_t pyStackEntries = 0;   // Python chains kept in py_stacks after trimming
  std::vector<MemleakStack> stacks;  // most bytes first
};

class MemleakSession {
 public:
  // Resolves the probe sites, opens and loads the object; throws std::runtime_error naming the step.
  explicit MemleakSession(const MemleakConfig& config);
  ~MemleakSession();
  MemleakSession(const MemleakSession&) = delete;
  MemleakSession& operator=(const MemleakSession&) = delete;

  // Attaches every probe; on failure detaches what it had attached and throws naming the
  // function and the file (or the tracepoint).
  void Attach();
  // Removes every probe; the maps stay readable.
  void Detach();
  bool Attached() const { return !links_.empty(); }

  // Allocations recorded at least minAgeNs before now, grouped by stack.
  MemleakSnapshotData Snapshot(uint64_t minAgeNs) const;
  MemleakCounters ReadCounters() const;
  std::vector<uint64_t> ReadUnwind() const { return ReadUnwindCounters(object_); }
  PythonMaps& Python() { return python_.Maps(); }
  std::vector<uint64_t> ReadPython() const { return python_.Maps().ReadCounters(); }

  bool KernelMode() const { return config_.kernelMode; }
  // "malloc in <libc> @0x98930 (entry, return)", "tracepoint kmem/kmalloc", ...: what the last Attach() attached.
  const std::vector<std::string>& AttachedProbes() const { return attached_; }
  // What was left out and why: functions this libc lacks, tracepoints this kernel lacks, aliases.
  const std::vector<std::string>& Skipped() const { return skipped_; }

 private:
  struct Site {
    std::string function;   // malloc, free, ... or "kmem/kmalloc"
    bpf_program* entry = nullptr;
    bpf_program* exit = nullptr;  // user mode allocation functions only
    uint64_t entryOffset = 0;
    uint64_t exitOffset = 0;
    std::vector<uint64_t> returnsOnly;  // plain uprobes running `entry` at each (malloc_return): no entry probe
    std::vector<uint64_t> insideOnly;   // the same inside malloc's frame (attach cookie 1)
  };

  void PlanUserSites();
  void PlanKernelSites();
  void SetReadOnlyGlobals();
  void AttachUser();
  void AttachKernel();
  void ForEachAllocation(const std::function<void(uint64_t, const ::memleak_alloc&)>& visit) const;
  std::vector<uint64_t> ReadStack(int32_t stackId) const;
  // Returns the entries left in the stack map.
  uint32_t TrimStacks(const std::unordered_set<int32_t>& referenced) const;
  int StackMapFd(int32_t stackId) const;
  void Destroy();

  MemleakConfig config_;
  std::string objectName_;
  bpf_object* object_ = nullptr;
  bpf_map* allocs_ = nullptr;
  bpf_map* stacks_ = nullptr;
  bpf_map* overflowStacks_ = nullptr;
  bpf_map* counters_ = nullptr;
  std::vector<Site> sites_;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attached_;
  std::vector<std::string> skipped_;
  MemleakPython python_;
  // Stack ids no live allocation referenced at the previous snapshot (see TrimStacks).
  mutable std::unordered_set<int32_t> unreferencedBefore_;
};

}  // namespace tracefleet
