// /proc/<pid>/maps and /proc/<pid>/stat, as the symbolizer needs them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tracefleet {

class ElfFile;

struct Mapping {
  uint64_t start;
  uint64_t end;
  uint64_t offset;  // in the file
  uint64_t inode;
  std::string dev;   // "major:minor" as maps prints it
  std::string path;  // empty for anonymous memory
  bool executable;
  std::shared_ptr<ElfFile> file;  // the ELF image behind this mapping, when it is one

  // Memory that belongs to a module: a file, or the vDSO.
  bool FileBacked() const { return !path.empty() && (path[0] == '/' || path == "[vdso]"); }
  bool SameRange(const Mapping& other) const {
    return start == other.start && end == other.end && offset == other.offset && inode == other.inode &&
           dev == other.dev && path == other.path;
  }
};

// Sorted by start, as the kernel lists them. False (out untouched) when unreadable.
bool ReadMaps(int pid, std::vector<Mapping>& out);

// Who holds a pid now: field 22 of /proc/<pid>/stat (the start time, in clock ticks) and the
// inode of /proc/<pid>. The start time alone cannot tell apart two processes that started in
// the same tick (10 ms) under one pid; procfs gives each new process behind a pid a new inode.
// (A live process's inode can also change when the dcache drops its entry under memory
// pressure: that costs one needless maps re-read, never a wrong name.)
// Empty when the process is gone.
std::string ProcessIdentity(int pid);

}  // namespace tracefleet
