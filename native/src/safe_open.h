// Opening files whose path a controller request or a traced process chose. The agent runs as root,
// so an open() alone can act on the machine: a FIFO blocks the thread until a writer comes, a device
// runs its driver's open (a watchdog arms itself). Only regular files are ever opened for reading.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace tracefleet {

// An owned descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

struct SafeOpenResult {
  UniqueFd fd;         // valid only when the file was accepted
  struct stat st = {};  // of the opened descriptor (accepted), or of the O_PATH handle (refused as not regular)
  std::string error;   // why not, e.g. "not a regular file (FIFO)", "larger than 64 MiB"; never the size or content
  bool ok() const { return fd.valid(); }
};

// The file's kind as an error names it: "FIFO", "character device", "directory", ...
const char* FileKind(mode_t mode);

// Opens `path` for reading only when it is a regular file of at most maxBytes (0: no limit), on
// no pseudo file system (proc, sysfs, debugfs, ...: their files are kernel interfaces).
// The path is first opened O_PATH (no driver open, no FIFO wait) and that descriptor fstat'ed; only
// a regular file is then opened for reading, through /proc/self/fd (the same inode: no window in
// which the path can be swapped) with O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC, and fstat'ed again.
SafeOpenResult SafeOpenRegular(const std::string& path, uint64_t maxBytes = 0);

// The same for `rel` inside the directory `root` taken as the root of the lookup (openat2 with
// RESOLVE_IN_ROOT: absolute symbolic links and ".." stay inside it; no /proc magic links): a file in a
// traced process's own mount namespace, through /proc/PID/root, as that process would find it.
SafeOpenResult SafeOpenRegularInRoot(const std::string& root, const std::string& rel, uint64_t maxBytes = 0);

// The O_PATH handle of `rel` inside `root`, resolved as above (stat it with fstat); invalid with `error` set.
UniqueFd OpenPathInRoot(const std::string& root, const std::string& rel, std::string& error);

}  // namespace tracefleet
