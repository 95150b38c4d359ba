#include "memleak_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "elf_function_offsets.h"
#include "libbpf_log.h"
#include "ring_buffer_object.h"
#include "memleak_layout.h"
#include "proc_maps.h"
#include "rodata.h"
#include "symbol_names.h"

namespace tracefleet {
namespace {

struct UserFunction {
  const char* name;
  const char* entry;  // program names in memleak.bpf.c
  const char* exit;   // nullptr: an entry probe only (the frees)
};

// memalign comes before aligned_alloc: glibc gives both one body, which is probed once, under the older name.
constexpr UserFunction kUserFunctions[] = {
    {"malloc", "malloc_enter", "malloc_exit"},
    {"calloc", "calloc_enter", "calloc_exit"},
    {"realloc", "realloc_enter", "realloc_exit"},
    {"reallocarray", "reallocarray_enter", "reallocarray_exit"},
    {"posix_memalign", "posix_memalign_enter", "posix_memalign_exit"},
    {"memalign", "memalign_enter", "memalign_exit"},
    {"aligned_alloc", "aligned_alloc_enter", "aligned_alloc_exit"},
    {"valloc", "valloc_enter", "valloc_exit"},
    {"pvalloc", "pvalloc_enter", "pvalloc_exit"},
    {"mmap", "mmap_enter", "mmap_exit"},
    {"free", "free_enter", nullptr},
    {"munmap", "munmap_enter", nullptr},
};

struct KernelTracepoint {
  const char* program;
  const char* category;
  const char* name;
};

constexpr KernelTracepoint kKernelTracepoints[] = {
    {"tp_kmalloc", "kmem", "kmalloc"},
    {"tp_kfree", "kmem", "kfree"},
    {"tp_kmem_cache_alloc", "kmem", "kmem_cache_alloc"},
    {"tp_kmem_cache_free", "kmem", "kmem_cache_free"},
    {"tp_mm_page_alloc", "kmem", "mm_page_alloc"},
    {"tp_mm_page_free", "kmem", "mm_page_free"},
    {"tp_percpu_alloc_percpu", "percpu", "percpu_alloc_percpu"},
    {"tp_percpu_free_percpu", "percpu", "percpu_free_percpu"},
};

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool LooksLikeLibc(const std::string& path) {
  std::string name = Basename(path);
  return name.rfind("libc.so", 0) == 0 || (name.rfind("libc-", 0) == 0 && name.find(".so") != std::string::npos);
}

// The libc the process maps, seen through its root so a process in a container works too.
std::string FindLibc(uint32_t pid) {
  std::vector<Mapping> maps;
  if (!ReadMaps(static_cast<int>(pid), maps)) throw std::runtime_error("read /proc/" + std::to_string(pid) + "/maps: " + std::strerror(errno));
  for (const Mapping& m : maps) {
    if (m.executable && !m.path.empty() && m.path[0] == '/' && LooksLikeLibc(m.path)) {
      return "/proc/" + std::to_string(pid) + "/root" + m.path;
    }
  }
  throw std::runtime_error("pid " + std::to_string(pid) + " maps no libc.so (a static binary, or another C library?); pass option libc");
}

// Where libbpf 1.1 reads tracepoint ids: debugfs's tracing directory when it exists, else tracefs.
std::string TracingRoot() {
  return access("/sys/kernel/debug/tracing", F_OK) == 0 ? "/sys/kernel/debug/tracing" : "/sys/kernel/tracing";
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

const std::vector<std::string>& MemleakUserFunctions() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const UserFunction& f : kUserFunctions) v.push_back(f.name);
    return v;
  }();
  return names;
}

MemleakSession::MemleakSession(const MemleakConfig& config) : config_(config), objectName_(Basename(config.objectPath)) {
  if (!config_.kernelMode && config_.libc.empty()) config_.libc = FindLibc(config_.pid);
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(config_.objectPath.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + config_.objectPath, errno, log));
  try {
    allocs_ = bpf_object__find_map_by_name(object_, "allocs");
    stacks_ = bpf_object__find_map_by_name(object_, "stack_traces");
    overflowStacks_ = bpf_object__find_map_by_name(object_, "stack_overflow");
    counters_ = bpf_object__find_map_by_name(object_, "counters");
    if (allocs_ == nullptr || stacks_ == nullptr || overflowStacks_ == nullptr || counters_ == nullptr) {
      throw std::runtime_error(objectName_ + ": not a memleak object (needs maps 'allocs', 'stack_traces', 'stack_overflow' and 'counters')");
    }
    if (config_.kernelMode) {
      PlanKernelSites();
    } else {
      PlanUserSites();
    }
    int err = bpf_map__set_max_entries(allocs_, config_.maxAllocs);
    if (err) throw std::runtime_error(LibbpfError("set size of the allocs map of " + objectName_, err, log));
    // User mode holds only what one process has outstanding: allocate entries as they come rather
    // than reserve maxAllocs up front. Kernel mode keeps the preallocated map: an update there must
    // not allocate, or it would feed the kmalloc tracepoint it runs under.
    if (!config_.kernelMode) {
      err = bpf_map__set_map_flags(allocs_, bpf_map__map_flags(allocs_) | BPF_F_NO_PREALLOC);
      if (err) throw std::runtime_error(LibbpfError("set flags of the allocs map of " + objectName_, err, log));
    }
    for (bpf_map* map : {stacks_, overflowStacks_}) {
      err = bpf_map__set_value_size(map, config_.stackDepth * sizeof(uint64_t));
      if (err) throw std::runtime_error(LibbpfError("set stack depth of " + objectName_, err, log));
    }
    err = bpf_map__set_max_entries(stacks_, config_.stackMapEntries);
    if (err) throw std::runtime_error(LibbpfError("set size of the stack map of " + objectName_, err, log));
    python_.Prepare(object_, objectName_, config_.python && !config_.kernelMode);
    SetReadOnlyGlobals();
    if (!config_.kernelMode) UseUnwindMaps(object_, objectName_.c_str(), config_.unwind);

    err = bpf_object__load(object_);
    if (err) throw std::runtime_error(LibbpfError("load " + objectName_, err, log));
  } catch (...) {
    Destroy();
    throw;
  }
}

MemleakSession::~MemleakSession() { Destroy(); }

void MemleakSession::Destroy() {
  Detach();
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
  allocs_ = nullptr;
  stacks_ = nullptr;
  overflowStacks_ = nullptr;
  counters_ = nullptr;
}

void MemleakSession::PlanUserSites() {
  FunctionOffsets symbols = FindFunctionOffsets(config_.libc, MemleakUserFunctions());
  for (const char* required : {"malloc", "free"}) {
    if (!symbols.found.count(required)) throw std::runtime_error(symbols.why[required] + ": not a C library to trace");
  }
  std::map<uint64_t, std::string> byEntry;  // entry offset → function probed there
  for (const UserFunction& f : kUserFunctions) {
    Site site;
    site.function = f.name;
    site.entry = bpf_object__find_program_by_name(object_, f.entry);
    site.exit = f.exit ? bpf_object__find_program_by_name(object_, f.exit) : nullptr;
    if (site.entry == nullptr || (f.exit && site.exit == nullptr)) {
      throw std::runtime_error(objectName_ + ": no program " + (site.entry ? f.exit : f.entry) + " (rebuild it)");
    }
    auto symbol = symbols.found.find(f.name);
    auto chosen = config_.entryOffsets.find(f.name);
    std::string skip;
    // A return probe must sit on the function's first instruction, so it needs the symbol; an
    // entry-only probe can go wherever the caller says.
    if (symbol == symbols.found.end() && (f.exit || chosen == config_.entryOffsets.end())) {
      skip = f.name + std::string(": ") + symbols.why[f.name];
    } else {
      site.entryOffset = chosen != config_.entryOffsets.end() ? chosen->second : symbol->second;
      site.exitOffset = symbol != symbols.found.end() ? symbol->second : 0;
      auto same = byEntry.find(site.entryOffset);
      if (same != byEntry.end()) {
        skip = f.name + std::string(": same code as ") + same->second + " (" + config_.libc + " @" + Hex(site.entryOffset) +
               "), probed once as " + same->second;
      }
    }
    if (!skip.empty()) {
      skipped_.push_back(skip);
      bpf_program__set_autoload(site.entry, false);
      if (site.exit) bpf_program__set_autoload(site.exit, false);
      continue;
    }
    byEntry[site.entryOffset] = f.name;
    if (site.function == "malloc" && config_.MallocAtReturns()) {
      bpf_program__set_autoload(site.entry, false);
      bpf_program__set_autoload(site.exit, false);
      site.entry = bpf_object__find_program_by_name(object_, "malloc_return");
      if (site.entry == nullptr) throw std::runtime_error(objectName_ + ": no program malloc_return (rebuild it)");
      site.exit = nullptr;
      site.returnsOnly = config_.mallocReturns;
      site.insideOnly = config_.mallocInside;
    }
    sites_.push_back(site);
  }
  for (const KernelTracepoint& tp : kKernelTracepoints) {
    bpf_program* program = bpf_object__find_program_by_name(object_, tp.program);
    if (program) bpf_program__set_autoload(program, false);
  }
  if (!config_.MallocAtReturns()) bpf_program__set_autoload(bpf_object__find_program_by_name(object_, "malloc_return"), false);
}

void MemleakSession::PlanKernelSites() {
  const std::string root = TracingRoot();
  if (!IsDirectory(root + "/events")) {
    throw std::runtime_error("kernel mode attaches tracepoints, whose ids libbpf reads from " + root +
                             "/events, which does not exist: tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)");
  }
  for (const KernelTracepoint& tp : kKernelTracepoints) {
    bpf_program* program = bpf_object__find_program_by_name(object_, tp.program);
    if (program == nullptr) throw std::runtime_error(objectName_ + ": no program " + tp.program + " (rebuild it)");
    std::string name = std::string(tp.category) + "/" + tp.name;
    if (!IsDirectory(root + "/events/" + name)) {
      skipped_.push_back("tracepoint " + name + ": not on this kernel (no " + root + "/events/" + name + ")");
      bpf_program__set_autoload(program, false);
      continue;
    }
    Site site;
    site.function = name;
    site.entry = program;
    sites_.push_back(site);
  }
  if (sites_.empty()) throw std::runtime_error("kernel mode: none of the kmem/percpu tracepoints exists on this kernel");
  for (const UserFunction& f : kUserFunctions) {
    for (const char* name : {f.entry, f.exit}) {
      bpf_program* program = name ? bpf_object__find_program_by_name(object_, name) : nullptr;
      if (program) bpf_program__set_autoload(program, false);
    }
  }
}

void MemleakSession::SetReadOnlyGlobals() {
  const uint32_t targetTgid = config_.kernelMode ? 0 : config_.pid;
  const bool kernelMode = config_.kernelMode;
  const long pageSize = sysconf(_SC_PAGESIZE);
  const uint64_t pageBytes = pageSize > 0 ? static_cast<uint64_t>(pageSize) : 4096;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw std::runtime_error("count possible CPUs: " + std::string(std::strerror(-cpus)));
  const uint64_t possibleCpus = static_cast<uint64_t>(cpus);
  const uint32_t stackBytes = config_.stackDepth * sizeof(uint64_t);
  std::vector<RodataValue> values = {
      {"target_tgid", &targetTgid, sizeof(targetTgid)},
      {"kernel_mode", &kernelMode, sizeof(kernelMode)},
      {"sample_every", &config_.sampleEvery, sizeof(config_.sampleEvery)},
      {"sample_bytes", &config_.sampleBytes, sizeof(config_.sampleBytes)},
      {"page_size", &pageBytes, sizeof(pageBytes)},
      {"possible_cpus", &possibleCpus, sizeof(possibleCpus)},
      {"stack_bytes", &stackBytes, sizeof(stackBytes)},
  };
  const bool python = config_.python && !config_.kernelMode;
  if (python) values.push_back({"python_enabled", &python, sizeof(python)});
  AddTargetRodata(config_.target, false, values);  // memleak.bpf.c has the cgroup filter only
  SetRodata(object_, objectName_, values);
}

void MemleakSession::Attach() {
  if (!links_.empty()) return;
  attached_.clear();
  try {
    if (config_.kernelMode) {
      AttachKernel();
    } else {
      AttachUser();
    }
  } catch (...) {
    Detach();
    attached_.clear();
    throw;
  }
}

void MemleakSession::AttachUser() {
  LibbpfLogCapture log;
  const pid_t pid = static_cast<pid_t>(config_.pid);
  auto attach = [&](const Site& site, bpf_program* program, uint64_t offset, bool retprobe, uint64_t cookie = 0) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = retprobe);
    bpf_link* link = bpf_program__attach_uprobe_opts(program, pid, config_.libc.c_str(), offset, &opts);
    if (link == nullptr) {
      int err = errno;
      throw std::runtime_error(LibbpfError(std::string("attach ") + (retprobe ? "uretprobe " : "uprobe ") + site.function + " in " +
                                               config_.libc + " @" + Hex(offset) + " for pid " + std::to_string(config_.pid),
                                           err, log));
    }
    links_.push_back(link);
  };
  for (const Site& site : sites_) {
    if (!site.returnsOnly.empty() || !site.insideOnly.empty()) {
      std::string at;
      auto add = [&](uint64_t offset, uint64_t cookie) {
        attach(site, site.entry, offset, false, cookie);
        at += (at.empty() ? "@" : ", @") + Hex(offset) + (cookie ? " (inside)" : "");
      };
      for (uint64_t offset : site.returnsOnly) add(offset, 0);
      for (uint64_t offset : site.insideOnly) add(offset, 1);
      attached_.push_back(site.function + " in " + config_.libc + " (returns only, size from the chunk header: " + at + ")");
      continue;
    }
    // Return probe first: every call the entry probe notes then has a return that takes the note
    // (a call already under way when only its entry probe existed would leave a stale one).
    if (site.exit) attach(site, site.exit, site.exitOffset, true);
    attach(site, site.entry, site.entryOffset, false);
    std::string what = site.function + " in " + config_.libc + " @" + Hex(site.entryOffset);
    if (site.exit) {
      what += site.exitOffset == site.entryOffset ? " (entry, return)" : " (entry; return @" + Hex(site.exitOffset) + ")";
    } else {
      what += site.exitOffset != 0 && site.exitOffset != site.entryOffset ? " (entry; symbol @" + Hex(site.exitOffset) + ")" : " (entry)";
    }
    attached_.push_back(what);
  }
}

void MemleakSession::AttachKernel() {
  LibbpfLogCapture log;
  for (const Site& site : sites_) {
    size_t slash = site.function.find('/');
    std::string category = site.function.substr(0, slash), name = site.function.substr(slash + 1);
    bpf_link* link = bpf_program__attach_tracepoint(site.entry, category.c_str(), name.c_str());
    if (link == nullptr) throw std::runtime_error(LibbpfError("attach tracepoint " + site.function, errno, log));
    links_.push_back(link);
    attached_.push_back("tracepoint " + site.function);
  }
}

void MemleakSession::Detach() {
  // Newest first: each entry probe goes before its return probe, so calls under way still finish.
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  links_.clear();
}

void MemleakSession::ForEachAllocation(const std::function<void(uint64_t, const memleak_alloc&)>& visit) const {
  const int fd = bpf_map__fd(allocs_);
  uint32_t batch = 4096;
  std::vector<uint64_t> keys(batch);
  std::vector<memleak_alloc> values(batch);
  uint64_t in = 0, out = 0;  // the hash map's cursor (a bucket index) is opaque; 8 bytes hold it
  bool first = true;
  for (;;) {
    uint32_t count = batch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), values.data(), &count, &opts);
    for (uint32_t i = 0; i < count && i < batch; i++) visit(keys[i], values[i]);
    if (err == 0) {
      in = out;
      first = false;
      continue;
    }
    if (err == -ENOENT) return;  // the last batch
    if (err == -ENOSPC && batch < (1u << 24)) {
      // One bucket holds more entries than a batch: retry the same cursor with room for them.
      batch *= 2;
      keys.resize(batch);
      values.resize(batch);
      continue;
    }
    if (first && (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */)) break;
    throw std::runtime_error("read the allocs map of " + objectName_ + ": " + std::strerror(-err));
  }
  // Kernels without batch lookup for hash maps: one key at a time.
  uint64_t key = 0, next = 0;
  bool started = false;
  while (bpf_map_get_next_key(fd, started ? &key : nullptr, &next) == 0) {
    memleak_alloc value;
    if (bpf_map_lookup_elem(fd, &next, &value) == 0) visit(next, value);
    key = next;
    started = true;
  }
}

std::vector<uint64_t> MemleakSession::ReadStack(int32_t stackId) const {
  std::vector<uint64_t> frames(config_.stackDepth, 0);
  if (stackId < 0 || bpf_map_lookup_elem(StackMapFd(stackId), &stackId, frames.data()) != 0) return {};
  while (!frames.empty() && frames.back() == 0) frames.pop_back();
  return frames;
}

MemleakSnapshotData MemleakSession::Snapshot(uint64_t minAgeNs) const {
  if (object_ == nullptr) throw std::runtime_error(objectName_ + " is closed");
  MemleakSnapshotData snapshot;
  snapshot.nowNs = MonotonicNs();
  // One group per native stack and Python chain.
  std::unordered_map<uint64_t, MemleakStack> groups;
  std::unordered_set<int32_t> referenced;
  std::unordered_set<uint32_t> referencedPy;
  ForEachAllocation([&](uint64_t, const memleak_alloc& a) {
    referenced.insert(a.stack_id);
    if (a.py_stack_id != 0) referencedPy.insert(a.py_stack_id);
    if (minAgeNs > 0 && (a.ts_ns > snapshot.nowNs || snapshot.nowNs - a.ts_ns < minAgeNs)) return;
    MemleakStack& g = groups[(static_cast<uint64_t>(static_cast<uint32_t>(a.stack_id)) << 32) | a.py_stack_id];
    g.stackId = a.stack_id;
    g.pyStackId = a.py_stack_id;
    g.oldestNs = g.count == 0 ? a.ts_ns : std::min<uint64_t>(g.oldestNs, a.ts_ns);
    g.bytes += a.size;
    g.count++;
  });
  snapshot.stacks.reserve(groups.size());
  for (auto& [key, group] : groups) {
    group.frames = ReadStack(group.stackId);
    python_.Read(group.pyStackId, group);
    snapshot.stacks.push_back(std::move(group));
  }
  std::sort(snapshot.stacks.begin(), snapshot.stacks.end(), [](const MemleakStack& a, const MemleakStack& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.stackId != b.stackId ? a.stackId < b.stackId : a.pyStackId < b.pyStackId;
  });
  snapshot.stackMapEntries = TrimStacks(referenced);
  snapshot.pyStackEntries = python_.Trim(referencedPy);
  return snapshot;
}

// The stack map keeps every stack ever seen, so over a long run stacks of long-freed allocations
// would fill it and new stacks would fail (counted as stack errors). A stack no live allocation
// referenced at this snapshot nor at the previous one is removed. The remaining race: an
// allocation made between the map walk above and the delete below, with a stack unused for two
// whole intervals, loses its stack (it then shows as "[stack lost]"); it is rare and never
// misattributes bytes.
int MemleakSession::StackMapFd(int32_t stackId) const {
  return bpf_map__fd(stackId >= MEMLEAK_OVERFLOW_ID_BASE ? overflowStacks_ : stacks_);
}

uint32_t MemleakSession::TrimStacks(const std::unordered_set<int32_t>& referenced) const {
  std::vector<int32_t> unreferenced;
  for (bpf_map* map : {stacks_, overflowStacks_}) {
    const int fd = bpf_map__fd(map);
    int32_t key = 0, next = 0;
    bool started = false;
    while (bpf_map_get_next_key(fd, started ? &key : nullptr, &next) == 0) {
      if (referenced.count(next) == 0) unreferenced.push_back(next);
      key = next;
      started = true;
    }
  }
  std::unordered_set<int32_t> keep;
  for (int32_t id : unreferenced) {
    if (unreferencedBefore_.count(id) == 0 || bpf_map_delete_elem(StackMapFd(id), &id) != 0) keep.insert(id);
  }
  unreferencedBefore_ = std::move(keep);
  uint32_t seen = 0;
  for (bpf_map* map : {stacks_, overflowStacks_}) {
    const int fd = bpf_map__fd(map);
    int32_t key = 0, next = 0;
    bool started = false;
    while (bpf_map_get_next_key(fd, started ? &key : nullptr, &next) == 0) {
      seen++;
      key = next;
      started = true;
    }
  }
  return seen;
}

MemleakCounters MemleakSession::ReadCounters() const {
  MemleakCounters totals;
  if (counters_ == nullptr) return totals;
  // One value per CPU holding every counter (the BPF side looks it up once per probe hit).
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw std::runtime_error("count possible CPUs: " + std::string(std::strerror(-cpus)));
  if (bpf_map__value_size(counters_) != MEMLEAK_COUNTER_MAX * sizeof(uint64_t)) {
    throw std::runtime_error(objectName_ + ": the counters map holds " + std::to_string(bpf_map__value_size(counters_)) +
                             "-byte values, not " + std::to_string(MEMLEAK_COUNTER_MAX) + " counters (rebuild it)");
  }
  std::vector<uint64_t> perCpu(static_cast<size_t>(cpus) * MEMLEAK_COUNTER_MAX, 0);
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(counters_), &zero, perCpu.data()) != 0) {
    throw std::runtime_error("read the counters map of " + objectName_ + ": " + std::strerror(errno));
  }
  std::vector<uint64_t> sums(MEMLEAK_COUNTER_MAX, 0);
  for (int cpu = 0; cpu < cpus; cpu++) {
    for (uint32_t key = 0; key < MEMLEAK_COUNTER_MAX; key++) sums[key] += perCpu[static_cast<size_t>(cpu) * MEMLEAK_COUNTER_MAX + key];
  }
  totals.allocsSeen = sums[MEMLEAK_COUNTER_ALLOCS_SEEN];
  totals.allocsTraced = sums[MEMLEAK_COUNTER_ALLOCS_TRACED];
  totals.frees = sums[MEMLEAK_COUNTER_FREES];
  totals.freesMatched = sums[MEMLEAK_COUNTER_FREES_MATCHED];
  totals.untracked = sums[MEMLEAK_COUNTER_UNTRACKED];
  totals.stackErrors = sums[MEMLEAK_COUNTER_STACK_ERRORS];
  totals.pyStackErrors = sums[MEMLEAK_COUNTER_PY_STACK_ERRORS];
  return totals;
}

}  // namespace tracefleet
