#include "safe_open.h"

#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tracefleet {

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

const char* FileKind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "regular file";
    case S_IFIFO:
      return "FIFO";
    case S_IFCHR:
      return "character device";
    case S_IFBLK:
      return "block device";
    case S_IFDIR:
      return "directory";
    case S_IFSOCK:
      return "socket";
    case S_IFLNK:
      return "symbolic link";
    default:
      return "unknown file type";
  }
}

namespace {

// statfs f_type of file systems whose regular files are kernel interfaces (reads act), not data.
const char* PseudoFs(int64_t type) {
  switch (type) {
    case 0x9fa0: return "proc";
    case 0x62656572: return "sysfs";
    case 0x64626720: return "debugfs";
    case 0x74726163: return "tracefs";
    case 0x62656570: return "configfs";
    case 0x73636673: return "securityfs";
    case 0xcafe4a11: return "bpf";
    case 0x27e0eb: return "cgroup";
    case 0x63677270: return "cgroup2";
    case 0xde5e81e4: return "efivarfs";
    case 0x6165676c: return "pstore";
    default: return nullptr;
  }
}

std::string MiB(uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

SafeOpenResult SafeOpenRegular(const std::string& path, uint64_t maxBytes) {
  SafeOpenResult r;
  if (path.empty() || path.find('\0') != std::string::npos) {
    r.error = "not a valid path";
    return r;
  }
  UniqueFd handle(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!handle.valid()) {
    r.error = std::strerror(errno);
    return r;
  }
  if (fstat(handle.get(), &r.st) != 0) {
    r.error = std::strerror(errno);
    return r;
  }
  if (!S_ISREG(r.st.st_mode)) {
    r.error = std::string("not a regular file (") + FileKind(r.st.st_mode) + ")";
    return r;
  }
  if (maxBytes != 0 && static_cast<uint64_t>(r.st.st_size) > maxBytes) {
    r.error = "larger than " + MiB(maxBytes);
    return r;
  }
  struct statfs fs;
  if (fstatfs(handle.get(), &fs) == 0) {
    if (const char* pseudo = PseudoFs(static_cast<int64_t>(fs.f_type))) {
      r.error = std::string("on a pseudo file system (") + pseudo + "), not a data file";
      return r;
    }
  }
  std::string self = "/proc/self/fd/" + std::to_string(handle.get());
  UniqueFd fd(open(self.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    r.error = std::strerror(errno);
    return r;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    r.error = std::strerror(errno);
    return r;
  }
  // The same inode as the handle, by construction; checked anyway, the reopen went through /proc.
  if (!S_ISREG(st.st_mode) || st.st_dev != r.st.st_dev || st.st_ino != r.st.st_ino) {
    r.error = std::string("not a regular file (") + FileKind(st.st_mode) + ")";
    return r;
  }
  if (maxBytes != 0 && static_cast<uint64_t>(st.st_size) > maxBytes) {
    r.error = "larger than " + MiB(maxBytes);
    return r;
  }
  r.st = st;
  r.fd = std::move(fd);
  return r;
}

}  // namespace tracefleet
