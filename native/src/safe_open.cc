#include "safe_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
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

namespace {

// The checks after the O_PATH handle was opened (however it was): a regular file, within maxBytes, on no
// pseudo file system; then opened for reading through /proc/self/fd (the same inode) and checked again.
SafeOpenResult FromHandle(UniqueFd handle, uint64_t maxBytes) {
  SafeOpenResult r;
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

}  // namespace

SafeOpenResult SafeOpenRegular(const std::string& path, uint64_t maxBytes) {
  if (path.empty() || path.find('\0') != std::string::npos) {
    SafeOpenResult r;
    r.error = "not a valid path";
    return r;
  }
  UniqueFd handle(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!handle.valid()) {
    SafeOpenResult r;
    r.error = std::strerror(errno);
    return r;
  }
  return FromHandle(std::move(handle), maxBytes);
}

UniqueFd OpenPathInRoot(const std::string& root, const std::string& rel, std::string& error) {
  if (rel.empty() || rel.find('\0') != std::string::npos || root.find('\0') != std::string::npos) {
    error = "not a valid path";
    return UniqueFd();
  }
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    error = std::strerror(errno);
    return UniqueFd();
  }
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  // Every component, symbolic links included, resolves inside the process's root: a link in its /tmp
  // to "/etc/..." names the container's /etc, never the agent's. No /proc magic links either.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof(how)));
  if (fd < 0) {
    error = std::strerror(errno);
    return UniqueFd();
  }
  return UniqueFd(fd);
}

SafeOpenResult SafeOpenRegularInRoot(const std::string& root, const std::string& rel, uint64_t maxBytes) {
  SafeOpenResult r;
  UniqueFd handle = OpenPathInRoot(root, rel, r.error);
  if (!handle.valid()) return r;
  return FromHandle(std::move(handle), maxBytes);
}

}  // namespace tracefleet
