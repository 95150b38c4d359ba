// /tmp/perf-<pid>.map as written by JITs (node --perf-basic-prof): "START SIZE name", hex.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tracefleet {

class PerfMap {
 public:
  explicit PerfMap(int pid) : path_("/tmp/perf-" + std::to_string(pid) + ".map") {}

  // Reads what was appended since the last call (from the start if the file shrank).
  void Refresh();
  // nullptr when no entry covers addr. A later entry wins over an earlier overlapping
  // one: JITs re-emit code at reused addresses.
  const std::string* Find(uint64_t addr) const;

 private:
  struct Entry {
    uint64_t start;
    uint64_t size;
    uint64_t sequence;
    std::string name;
  };

  std::string path_;
  uint64_t offset_ = 0;  // bytes consumed so far
  uint64_t maxSize_ = 0;
  std::vector<Entry> entries_;  // sorted by start
};

}  // namespace tracefleet
