// User-space symbols. Per process only what is the process's own: its maps, its identity, its
// JIT perf map and the names its addresses resolved to. The ELF images and their symbol
// indexes are shared by every process that maps them (ElfFileCache), so the cost grows with
// distinct files and addresses, not with processes × flushes. A process's state is kept after
// it exits, so its samples still resolve, until 10 s without a lookup (user_symbols.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "file_cache.h"
#include "perf_map.h"
#include "proc_maps.h"

namespace tracefleet {

struct SymbolizerCounters {
  uint64_t lookups = 0;          // user frames asked for
  uint64_t cacheHits = 0;        // of those, answered from a process's address cache
  uint64_t cachedAddresses = 0;  // entries in every process's address cache
  uint64_t mapsReads = 0;        // /proc/<pid>/maps reads
  uint64_t perfMapsRefused = 0;  // processes whose /tmp/perf-PID.map was refused (owner, mode, type)
  uint64_t perfMapLinesTooLong = 0;
  uint64_t perfMapBytesNotRead = 0;  // beyond the size limit, summed over processes
  uint64_t mappingsRefused = 0;  // executable file mappings that are not regular files (devices, ...): never opened
  std::string lastRefusal;       // the latest of those refusals, for the run's report
};

struct SymbolizerStats {
  uint64_t files;
  uint64_t symbols;
  uint64_t processes;
  SymbolizerCounters counters;
};

class ProcessSymbols {
 public:
  using Clock = std::chrono::steady_clock;

  ProcessSymbols(int pid, ElfFileCache& files, SymbolizerCounters& counters, Clock::time_point now,
                 uint64_t perfMapMaxBytes);
  ~ProcessSymbols() { ForgetNames(); }
  ProcessSymbols(const ProcessSymbols&) = delete;
  ProcessSymbols& operator=(const ProcessSymbols&) = delete;

  // False when /proc/<pid> now belongs to a different process than the one we read. Reads
  // /proc/<pid>/stat at most once a second; in between the answer is true.
  bool SameProcess(Clock::time_point now);
  // addrs is a stack, leaf first: every frame but the leaf is a return address.
  void Symbolize(const uint64_t* addrs, size_t count, Clock::time_point now, std::vector<std::string>& names);
  void ForgetNames();
  // True when the process this state was read from is gone (or its pid now belongs to another).
  bool Exited() const;

  uint64_t lastUsed = 0;
  Clock::time_point lastUsedAt;

 private:
  bool Resolve(uint64_t addr, std::string& out) const;
  void RefreshPerfMap();
  void ReadMaps(Clock::time_point now);
  const Mapping* FindMapping(uint64_t addr) const;

  int pid_;
  ElfFileCache& files_;
  SymbolizerCounters& counters_;
  std::string identity_;
  Clock::time_point checkedAt_;
  Clock::time_point mapsReadAt_;
  std::vector<Mapping> maps_;  // sorted by start, as /proc/<pid>/maps lists them
  PerfMap perfMap_;
  bool perfMapRefused_ = false;
  PerfMapCounters perfMapCounted_;  // what of perfMap_'s counters is already in counters_
  std::unordered_map<uint64_t, std::string> names_;  // looked-up address → name, file-backed only
};

class UserSymbols {
 public:
  explicit UserSymbols(uint64_t perfMapMaxBytes = PerfMap::kDefaultMaxBytes) : perfMapMaxBytes_(perfMapMaxBytes) {}
  std::vector<std::string> Symbolize(int pid, const uint64_t* addrs, size_t count);
  void Forget(int pid) { processes_.erase(pid); }
  void Clear();
  SymbolizerStats Stats() const;

 private:
  void EvictLeastRecentlyUsed();
  void ForgetExited(ProcessSymbols::Clock::time_point now);

  // Declared before processes_, which refer to them, so that they are destroyed after.
  ElfFileCache files_;
  SymbolizerCounters counters_;
  std::unordered_map<int, std::unique_ptr<ProcessSymbols>> processes_;
  uint64_t tick_ = 0;
  uint64_t perfMapMaxBytes_;
  ProcessSymbols::Clock::time_point sweptAt_ = ProcessSymbols::Clock::now();
};

}  // namespace tracefleet
