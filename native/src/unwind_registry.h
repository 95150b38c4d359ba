// Which processes have unwind tables, and the tables themselves: one per ELF file (keyed by
// build-id, else device+inode), shared by every process that maps it, built on first use and
// dropped when no process uses it, within a memory limit. No Node here.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "unwind_maps.h"

namespace tracefleet {

struct UnwindRegistryStats {
  uint64_t processes = 0;
  uint64_t tables = 0;
  uint64_t tableRows = 0;
  uint64_t tableBytes = 0;
  uint64_t tableBytesPeak = 0;
  uint64_t tablesBuilt = 0;
  uint64_t buildNs = 0;       // time spent building and loading tables
  uint64_t tablesEvicted = 0; // dropped for lack of room, while a process still mapped them
  uint64_t tablesRefused = 0; // modules left without a table: over the limit, or no room even after eviction
  uint64_t modulesFp = 0;     // mappings unwound by frame pointer when last written
  uint64_t mappingsDropped = 0; // executable mappings past UNWIND_MAX_MAPPINGS
  uint64_t unreadable = 0;    // files that could not be opened or parsed
  uint64_t debuginfoFetched = 0;  // stripped files whose debuginfo a debuginfod server gave
  uint64_t debuginfoMissing = 0;  // stripped files it did not have (names stay module+offset)
};

struct AddProcessResult {
  bool gone = false;  // no /proc/<pid>/maps: the process exited
  uint32_t mappings = 0;
  uint32_t tablesBuilt = 0;
  uint64_t buildNs = 0;
};

class UnwindRegistry {
 public:
  explicit UnwindRegistry(uint64_t maxTableBytes);
  ~UnwindRegistry();

  UnwindFds Fds() const { return maps_.Fds(); }

  // Reads the process's maps, builds the tables it lacks and writes its entry. Thread-safe;
  // blocks while another call builds. Throws only on a BPF map failure.
  AddProcessResult AddProcess(int pid);
  void RemoveProcess(int pid);
  std::vector<uint32_t> TakeMisses() { return maps_.TakeMisses(); }
  UnwindRegistryStats Stats() const;
  std::vector<int> Processes() const;

 private:
  struct Segment {
    uint64_t offset, vaddr, fileSize;
  };
  struct Table {
    std::string key;
    uint32_t id = 0;
    int fd = -1;         // -1: no rows (no CFI: frame pointer) or refused
    uint32_t rows = 0;
    uint64_t bytes = 0;
    uint32_t kind = UNWIND_KIND_NONE;
    uint64_t refs = 0;   // processes using it
    uint64_t lastUsed = 0;
    std::vector<Segment> segments;
  };
  std::shared_ptr<Table> TableFor(int pid, const std::string& path, uint64_t start, uint64_t end,
                                  uint32_t& built, uint64_t& buildNs);
  std::shared_ptr<Table> Build(Elf* elf, const std::string& key, uint32_t& built, uint64_t& buildNs);
  bool MakeRoom(uint64_t bytes);
  void Forget(int pid);
  void Release(const std::vector<std::string>& keys);
  void DropTable(Table& table);
  uint64_t LoadedBytes() const;
  void NoteBytes();

  const uint64_t maxBytes_;
  UnwindMaps maps_;
  std::mutex mu_;  // held for a whole AddProcess/RemoveProcess
  std::unordered_map<std::string, std::shared_ptr<Table>> tables_;  // by build-id or file key
  std::unordered_map<std::string, std::string> fileKeys_;           // "dev:ino:size:mtime" → table key
  std::unordered_map<int, std::vector<std::string>> procs_;         // pid → table keys its entry uses
  uint32_t nextId_ = 1;
  uint64_t tick_ = 0;

  mutable std::mutex statsMu_;  // Stats() never waits for a build
  UnwindRegistryStats stats_;
  std::vector<int> pids_;
};

}  // namespace tracefleet
