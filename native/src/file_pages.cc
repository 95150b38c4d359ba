#include "file_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace tracefleet {
namespace {

struct FileMapping {
  bool found = false;
  bool writable = false;
};

// The mapping of /proc/self/maps that holds [start, end), when there is one and it is file-backed (an inode).
// libelf's fallback for a file it cannot map is a malloc'd copy, which is not ours to drop.
FileMapping FindFileMapping(uintptr_t start, uintptr_t end) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uint64_t from = 0, to = 0, offset = 0, inode = 0;
    char perms[5] = {};
    unsigned devMajor = 0, devMinor = 0;
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64, &from, &to, perms, &offset,
                    &devMajor, &devMinor, &inode) != 7) {
      continue;
    }
    if (start < from || start >= to) continue;
    if (end > to || inode == 0) return {};
    return {true, perms[1] == 'w'};
  }
  return {};
}

// True when every page of [start, end) that is present is still the file's own (pagemap bit 61: file page or
// shared anonymous), i.e. nothing in a private mapping was copied on write. False when pagemap cannot say.
bool NoPageModified(uintptr_t start, uintptr_t end, uintptr_t page) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  constexpr uint64_t kPresent = 1ULL << 63;
  constexpr uint64_t kFileOrShared = 1ULL << 61;
  std::vector<uint64_t> entries(4096);
  bool clean = true;
  for (uintptr_t at = start; clean && at < end;) {
    size_t count = std::min<size_t>(entries.size(), (end - at) / page);
    ssize_t got = pread(fd, entries.data(), count * sizeof(uint64_t), static_cast<off_t>((at / page) * sizeof(uint64_t)));
    if (got != static_cast<ssize_t>(count * sizeof(uint64_t))) {
      clean = false;
      break;
    }
    for (size_t i = 0; i < count; i++) {
      if ((entries[i] & kPresent) != 0 && (entries[i] & kFileOrShared) == 0) clean = false;
    }
    at += count * page;
  }
  close(fd);
  return clean;
}

}  // namespace

bool ReleaseFilePages(const void* addr, size_t size) {
  if (addr == nullptr || size == 0) return false;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(addr) + page - 1) & ~(page - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(addr) + size) & ~(page - 1);
  if (last <= first) return false;
  FileMapping mapping = FindFileMapping(first, last);
  if (!mapping.found) return false;
  void* start = reinterpret_cast<void*>(first);
  // libdwfl maps files private and writable (ELF_C_READ_MMAP_PRIVATE). Dropping a page libelf had modified would
  // lose the change; where pagemap shows none was, MADV_DONTNEED only unmaps (a shared page leaves this RSS too).
  if (!mapping.writable || NoPageModified(first, last, page)) return madvise(start, last - first, MADV_DONTNEED) == 0;
  // Some page was modified: reclaim, which never changes what memory holds (clean file pages leave, the rest stays).
  return madvise(start, last - first, MADV_PAGEOUT) == 0;
}

}  // namespace tracefleet
