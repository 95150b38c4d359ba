#include "file_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "safe_open.h"
#include "symbol_names.h"

namespace tracefleet {
namespace {

// Files no process refers to any more are closed beyond this many; files that live processes
// (or cached exited ones) still map stay open, so the bound on processes bounds those.
constexpr size_t kMaxUnusedFiles = 512;
constexpr uint64_t kMaxVdsoBytes = 1 << 20;

uint64_t Fnv1a(const unsigned char* data, size_t size) {
  uint64_t hash = 1469598103934665603ULL;
  for (size_t i = 0; i < size; i++) hash = (hash ^ data[i]) * 1099511628211ULL;
  return hash;
}

}  // namespace

size_t ElfFileCache::KeyHash::operator()(const Key& k) const {
  uint64_t h = k.dev * 0x9e3779b97f4a7c15ULL ^ k.ino ^ (k.size << 1) ^ static_cast<uint64_t>(k.mtimeNsec) ^
               (static_cast<uint64_t>(k.mtimeSec) << 20) ^ (k.memory ? 1 : 0);
  return static_cast<size_t>(h ^ (h >> 29));
}

uint64_t ElfFileCache::IndexedSymbols() const {
  uint64_t total = 0;
  for (const auto& [key, entry] : files_) total += entry.file->IndexedSymbols();
  return total;
}

std::shared_ptr<ElfFile> ElfFileCache::Find(const Key& key) {
  auto it = files_.find(key);
  if (it == files_.end()) return nullptr;
  it->second.lastUsed = ++tick_;
  return it->second.file;
}

std::shared_ptr<ElfFile> ElfFileCache::Insert(const Key& key, std::shared_ptr<ElfFile> file) {
  files_[key] = Entry{file, ++tick_};
  if (files_.size() > kMaxUnusedFiles) Trim();
  return file;
}

void ElfFileCache::Trim() { TrimUnused(kMaxUnusedFiles / 2); }

void ElfFileCache::TrimUnused(size_t keep) {
  std::vector<std::pair<uint64_t, Key>> unused;
  for (const auto& [key, entry] : files_) {
    if (entry.file.use_count() == 1) unused.emplace_back(entry.lastUsed, key);
  }
  if (unused.size() <= keep) return;
  std::sort(unused.begin(), unused.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < unused.size() - keep; i++) files_.erase(unused[i].second);
}

std::shared_ptr<ElfFile> ElfFileCache::ForMapping(int pid, const Mapping& mapping, std::string* refused) {
  return mapping.path == "[vdso]" ? ForVdso(pid, mapping) : ForFile(pid, mapping, refused);
}

std::shared_ptr<ElfFile> ElfFileCache::ForFile(int pid, const Mapping& mapping, std::string* refused) {
  char range[64];
  std::snprintf(range, sizeof(range), "%llx-%llx", static_cast<unsigned long long>(mapping.start),
                static_cast<unsigned long long>(mapping.end));
  std::string proc = "/proc/" + std::to_string(pid);
  std::string path = WithoutDeleted(mapping.path);
  // map_files reaches the very inode mapped, even deleted or in another mount namespace
  // (it needs CAP_SYS_ADMIN); the process's root is the way in without it.
  for (const std::string& candidate : {proc + "/map_files/" + range, proc + "/root" + path}) {
    SafeOpenResult file = SafeOpenRegular(candidate);
    if (!file.ok()) {
      // Not a regular file: what the process maps there is no ELF image to read (a device), or
      // the path now names something else (a FIFO put in its place). Never opened, either way.
      if (file.st.st_mode != 0) {
        if (refused != nullptr) *refused = file.error;
        return nullptr;
      }
      continue;
    }
    const struct stat& st = file.st;
    Key key{false, st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    if (std::shared_ptr<ElfFile> hit = Find(key)) return hit;
    return Insert(key, std::make_shared<ElfFile>(file.fd.Release(), path, Basename(mapping.path)));
  }
  return nullptr;
}

// The vDSO is no file: its image is read from the process and handed to libdwfl as a memfd.
// Every process of one ABI maps the same image, so its bytes identify it.
std::shared_ptr<ElfFile> ElfFileCache::ForVdso(int pid, const Mapping& mapping) {
  uint64_t size = mapping.end - mapping.start;
  if (size == 0 || size > kMaxVdsoBytes) return nullptr;
  int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) return nullptr;
  std::vector<unsigned char> image(size);
  ssize_t got = pread(mem, image.data(), size, static_cast<off_t>(mapping.start));
  close(mem);
  if (got != static_cast<ssize_t>(size)) return nullptr;
  Key key{true, 0, Fnv1a(image.data(), image.size()), size, 0, 0};
  if (std::shared_ptr<ElfFile> hit = Find(key)) return hit;
  int fd = memfd_create("tracefleet-vdso", MFD_CLOEXEC);
  if (fd < 0) return nullptr;
  if (write(fd, image.data(), image.size()) != static_cast<ssize_t>(image.size())) {
    close(fd);
    return nullptr;
  }
  return Insert(key, std::make_shared<ElfFile>(fd, "[vdso]", "[vdso]"));
}

}  // namespace tracefleet
