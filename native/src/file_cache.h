// The ELF images of every process, keyed by the identity of the mapped file, so that 50
// processes mapping libc share one open libc and one symbol index.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "elf_file.h"
#include "proc_maps.h"

namespace tracefleet {

class ElfFileCache {
 public:
  // The image mapped at `mapping` of pid, opened through /proc/<pid>/map_files (deleted files,
  // other mount namespaces) or /proc/<pid>/root; nullptr when it cannot be opened. Only regular
  // files are opened (safe_open.h); when the mapped file is something else (a device mapped
  // executable, a FIFO put in its place) *refused says what, and nothing was opened.
  std::shared_ptr<ElfFile> ForMapping(int pid, const Mapping& mapping, std::string* refused = nullptr);
  void Clear() { files_.clear(); }
  // Closes files no process refers to any more, least recently used first, until at most `keep` such are left.
  void TrimUnused(size_t keep);
  size_t Files() const { return files_.size(); }
  uint64_t IndexedSymbols() const;

 private:
  struct Key {
    bool memory;  // an image read from process memory (the vDSO), identified by its bytes
    uint64_t dev;
    uint64_t ino;
    uint64_t size;
    int64_t mtimeSec;
    int64_t mtimeNsec;
    bool operator==(const Key& o) const {
      return memory == o.memory && dev == o.dev && ino == o.ino && size == o.size && mtimeSec == o.mtimeSec &&
             mtimeNsec == o.mtimeNsec;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    std::shared_ptr<ElfFile> file;
    uint64_t lastUsed;
  };

  std::shared_ptr<ElfFile> Find(const Key& key);
  std::shared_ptr<ElfFile> Insert(const Key& key, std::shared_ptr<ElfFile> file);
  std::shared_ptr<ElfFile> ForFile(int pid, const Mapping& mapping, std::string* refused);
  std::shared_ptr<ElfFile> ForVdso(int pid, const Mapping& mapping);
  void Trim();

  std::unordered_map<Key, Entry, KeyHash> files_;
  uint64_t tick_ = 0;
};

}  // namespace tracefleet
