// The BPF maps every unwinding program shares, created once by the agent: "unwind_tables" (a
// hash of maps: table id → an array of rows sized to the table), "unwind_procs" (tgid → its
// executable mappings) and "unwind_misses" (tgids whose samples met an unknown pc). Objects
// take them with bpf_map__reuse_fd before load. No Node here.
#pragma once

#include <cstdint>
#include <vector>

#include <linux/types.h>

#include "unwind/unwind.h"

struct bpf_object;

namespace tracefleet {

struct UnwindFds {
  int tables = -1;
  int procs = -1;
  int misses = -1;
  bool Valid() const { return tables >= 0 && procs >= 0 && misses >= 0; }
};

class UnwindMaps {
 public:
  // Throws std::runtime_error naming the map that could not be created.
  UnwindMaps();
  ~UnwindMaps();
  UnwindMaps(const UnwindMaps&) = delete;
  UnwindMaps& operator=(const UnwindMaps&) = delete;

  UnwindFds Fds() const { return fds_; }

  // Creates an array map holding rows (written through mmap) and puts it under id. Returns the
  // table's own fd, which the caller closes after DropTable. Throws naming the step.
  int LoadTable(uint32_t id, const std::vector<unwind_row>& rows);
  // Removes id from the tables map (BPF programs stop seeing it) and closes fd.
  void DropTable(uint32_t id, int fd);

  void SetProc(uint32_t pid, const unwind_proc& proc);
  void DeleteProc(uint32_t pid);
  // Tgids that missed since the last call; their entries are removed.
  std::vector<uint32_t> TakeMisses();

 private:
  UnwindFds fds_;
};

// Uses the shared maps in obj (before bpf_object__load) and turns unwinding on through the
// read-only global unwind_enabled, or leaves the object's own maps and frame pointers when fds
// are not valid. Throws naming the object and the map.
void UseUnwindMaps(bpf_object* obj, const char* objectName, const UnwindFds& fds);

// The object's unwind_counters summed over CPUs, indexed by UNWIND_* (zeros without the map).
std::vector<uint64_t> ReadUnwindCounters(bpf_object* obj);

}  // namespace tracefleet
