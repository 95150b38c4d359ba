#include "perf_map.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace tracefleet {

void PerfMap::Refresh() {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < offset_) {  // rewritten, e.g. by a new process with the same pid
    entries_.clear();
    offset_ = 0;
    maxSize_ = 0;
  }
  if (size == offset_) return;

  std::ifstream file(path_, std::ios::binary);
  if (!file) return;
  file.seekg(static_cast<std::streamoff>(offset_));
  std::string line;
  bool added = false;
  while (std::getline(file, line)) {
    if (file.eof()) break;  // no newline yet: the writer is mid-line, take it next time
    offset_ += line.size() + 1;
    char* end = nullptr;
    uint64_t start = std::strtoull(line.c_str(), &end, 16);
    if (end == line.c_str() || *end != ' ') continue;
    char* sizeEnd = nullptr;
    uint64_t length = std::strtoull(end + 1, &sizeEnd, 16);
    if (sizeEnd == end + 1 || *sizeEnd != ' ' || length == 0) continue;
    entries_.push_back(Entry{start, length, entries_.size(), std::string(sizeEnd + 1)});
    maxSize_ = std::max(maxSize_, length);
    added = true;
  }
  if (added) {
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.start < b.start; });
  }
}

const std::string* PerfMap::Find(uint64_t addr) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  const Entry* best = nullptr;
  // Walk back over every entry that starts close enough to still cover addr.
  while (it != entries_.begin()) {
    --it;
    if (addr - it->start >= maxSize_) break;
    if (addr - it->start < it->size && (best == nullptr || it->sequence > best->sequence)) best = &*it;
  }
  return best ? &best->name : nullptr;
}

}  // namespace tracefleet
