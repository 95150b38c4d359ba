#include "user_symbols.h"

#include <algorithm>

#include "symbol_names.h"

namespace tracefleet {
namespace {

// /proc reads (identity, maps) happen at most this often per process.
constexpr auto kRefreshInterval = std::chrono::seconds(1);
constexpr size_t kMaxProcesses = 4096;
// Beyond this many cached addresses over all processes, every address cache starts afresh.
constexpr uint64_t kMaxCachedAddresses = 1 << 18;
// A process's state is kept after it exits, for its samples still on their way (the ring, the queue, the next
// flush: a second or two). Past this without a lookup, an exited process's state goes, and with it the files
// only it mapped, but for the most recently used kKeepUnusedFiles: on a host that starts many short-lived
// processes (builds, probes, cron) the indexes of every binary they ran otherwise stayed for the symbolizer's life.
constexpr auto kExitedGrace = std::chrono::seconds(10);
constexpr size_t kKeepUnusedFiles = 32;

std::string FileIdentity(const Mapping& m) { return m.dev + ' ' + std::to_string(m.inode) + ' ' + m.path; }

}  // namespace

ProcessSymbols::ProcessSymbols(int pid, ElfFileCache& files, SymbolizerCounters& counters, Clock::time_point now,
                               uint64_t perfMapMaxBytes)
    : pid_(pid),
      files_(files),
      counters_(counters),
      identity_(ProcessIdentity(pid)),
      checkedAt_(now),
      perfMap_(pid, perfMapMaxBytes) {
  ReadMaps(now);
}

bool ProcessSymbols::SameProcess(Clock::time_point now) {
  if (now - checkedAt_ < kRefreshInterval) return true;
  checkedAt_ = now;
  std::string current = ProcessIdentity(pid_);
  return current.empty() || current == identity_;  // gone (keep what we have) or still the same
}

bool ProcessSymbols::Exited() const {
  std::string current = ProcessIdentity(pid_);
  return current.empty() || current != identity_;
}

void ProcessSymbols::ForgetNames() {
  counters_.cachedAddresses -= names_.size();
  names_.clear();
}

// Binds every mapping of a file that has executable mappings to the shared image of that
// file, now, while the process and its (possibly deleted or temporary) files are there:
// that is what lets its addresses resolve after it exits.
void ProcessSymbols::ReadMaps(Clock::time_point now) {
  mapsReadAt_ = now;
  std::vector<Mapping> maps;
  // Gone, or a zombie (whose maps are empty): keep what we had.
  if (!tracefleet::ReadMaps(pid_, maps) || maps.empty()) return;
  counters_.mapsReads++;

  std::unordered_map<std::string, std::shared_ptr<ElfFile>> bound;
  for (const Mapping& m : maps_) {
    if (m.file != nullptr) bound.emplace(FileIdentity(m), m.file);
  }
  std::unordered_map<std::string, bool> executable;
  for (const Mapping& m : maps) {
    if (m.FileBacked()) executable[FileIdentity(m)] |= m.executable;
  }
  for (Mapping& m : maps) {
    if (!m.FileBacked()) continue;
    std::string id = FileIdentity(m);
    if (!executable[id]) continue;  // data files (locale-archive, fonts): module+offset is all they get
    auto it = bound.find(id);
    if (it == bound.end()) {
      std::string refused;
      it = bound.emplace(id, files_.ForMapping(pid_, m, &refused)).first;
      if (!refused.empty()) {  // a device or FIFO mapped executable: its name is all it gets
        counters_.mappingsRefused++;
        counters_.lastRefusal = "pid " + std::to_string(pid_) + " maps " + m.path + " executable: " + refused;
      }
    }
    m.file = it->second;
  }

  // A file-backed range that is gone or changed (dlclose, then something else mapped there)
  // may have given names its addresses no longer have.
  auto next = maps.begin();
  for (const Mapping& old : maps_) {
    if (!old.FileBacked()) continue;
    while (next != maps.end() && next->start < old.start) ++next;
    if (next == maps.end() || !next->SameRange(old)) {
      ForgetNames();
      break;
    }
  }
  maps_ = std::move(maps);
}

const Mapping* ProcessSymbols::FindMapping(uint64_t addr) const {
  auto it = std::upper_bound(maps_.begin(), maps_.end(), addr, [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == maps_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

void ProcessSymbols::RefreshPerfMap() {
  bool ok = perfMap_.Refresh();
  if (!ok && !perfMapRefused_) {  // counted once per process, however many flushes see it
    counters_.perfMapsRefused++;
    counters_.lastRefusal = "perf map " + perfMap_.refusal();
  }
  perfMapRefused_ = !ok;
  const PerfMapCounters& c = perfMap_.counters();
  counters_.perfMapLinesTooLong += c.linesTooLong - perfMapCounted_.linesTooLong;
  counters_.perfMapBytesNotRead += c.bytesNotRead - perfMapCounted_.bytesNotRead;
  perfMapCounted_ = c;
}

bool ProcessSymbols::Resolve(uint64_t addr, std::string& out) const {
  // Only file-backed memory (and the vDSO) belongs to a module; anything else is JIT code,
  // heap or stack.
  const Mapping* mapping = FindMapping(addr);
  if (mapping == nullptr || !mapping->FileBacked()) return false;
  // By file offset, not address: a file region mapped twice (node maps V8's embedded
  // builtins from its own binary a second time, far from the binary) resolves the same.
  uint64_t fileOffset = addr - mapping->start + mapping->offset;
  out = mapping->file != nullptr ? mapping->file->Symbolize(fileOffset) : Basename(mapping->path) + "+" + Hex(fileOffset);
  return true;
}

void ProcessSymbols::Symbolize(const uint64_t* addrs, size_t count, Clock::time_point now,
                               std::vector<std::string>& names) {
  bool refreshedPerfMap = false;
  for (size_t i = 0; i < count; i++) {
    // A return address can be one past the function's last byte (a call at its end).
    uint64_t addr = i == 0 || addrs[i] == 0 ? addrs[i] : addrs[i] - 1;
    counters_.lookups++;
    auto hit = names_.find(addr);
    if (hit != names_.end()) {
      counters_.cacheHits++;
      names[i] = hit->second;
      continue;
    }
    if (FindMapping(addr) == nullptr && now - mapsReadAt_ >= kRefreshInterval) {
      ReadMaps(now);  // mapped (dlopen, mmap) since we looked: read what is there now
    }
    if (Resolve(addr, names[i])) {
      names_.emplace(addr, names[i]);
      counters_.cachedAddresses++;
      continue;
    }
    // JIT names are not cached: the JIT reuses addresses, and the perf map says so as it grows.
    if (!refreshedPerfMap) {
      refreshedPerfMap = true;
      RefreshPerfMap();
    }
    if (const std::string* jit = perfMap_.Find(addr)) {
      names[i] = *jit + "_[j]";
      continue;
    }
    names[i] = "[unknown mapping]+" + Hex(addrs[i]);
  }
}

std::vector<std::string> UserSymbols::Symbolize(int pid, const uint64_t* addrs, size_t count) {
  auto now = ProcessSymbols::Clock::now();
  auto it = processes_.find(pid);
  if (it != processes_.end() && !it->second->SameProcess(now)) {
    processes_.erase(it);  // the pid was reused
    it = processes_.end();
  }
  if (it == processes_.end()) {
    if (processes_.size() >= kMaxProcesses) EvictLeastRecentlyUsed();
    it = processes_.emplace(pid, std::make_unique<ProcessSymbols>(pid, files_, counters_, now, perfMapMaxBytes_)).first;
  }
  it->second->lastUsed = ++tick_;
  it->second->lastUsedAt = now;
  std::vector<std::string> names(count);
  it->second->Symbolize(addrs, count, now, names);
  if (counters_.cachedAddresses > kMaxCachedAddresses) {
    for (auto& [id, process] : processes_) process->ForgetNames();
  }
  if (now - sweptAt_ >= kExitedGrace) ForgetExited(now);
  return names;
}

void UserSymbols::ForgetExited(ProcessSymbols::Clock::time_point now) {
  sweptAt_ = now;
  for (auto it = processes_.begin(); it != processes_.end();) {
    if (now - it->second->lastUsedAt >= kExitedGrace && it->second->Exited()) {
      it = processes_.erase(it);
    } else {
      ++it;
    }
  }
  files_.TrimUnused(kKeepUnusedFiles);
}

void UserSymbols::EvictLeastRecentlyUsed() {
  auto oldest = std::min_element(processes_.begin(), processes_.end(),
                                 [](const auto& a, const auto& b) { return a.second->lastUsed < b.second->lastUsed; });
  if (oldest != processes_.end()) processes_.erase(oldest);
}

void UserSymbols::Clear() {
  processes_.clear();
  files_.Clear();
}

SymbolizerStats UserSymbols::Stats() const {
  return SymbolizerStats{files_.Files(), files_.IndexedSymbols(), processes_.size(), counters_};
}

}  // namespace tracefleet
