#include "uprobe_multi.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace tracefleet {
namespace {

// BPF_LINK_CREATE's attributes for uprobe_multi, laid out as the kernel's union bpf_attr (6.6+); the
// tail the kernel does not know must be zero, which the padding keeps.
struct UprobeMultiAttr {
  uint32_t progFd;
  uint32_t targetFd;
  uint32_t attachType;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t refCtrOffsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multiFlags;
  uint32_t pid;
  uint32_t pad[9];
};

constexpr uint32_t kMultiReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN

int Bpf(int cmd, void* attr, size_t size) { return static_cast<int>(syscall(__NR_bpf, cmd, attr, size)); }

bool Probe() {
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  union bpf_attr load;
  std::memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_KPROBE;
  load.insns = reinterpret_cast<uint64_t>(insns);
  load.insn_cnt = 2;
  load.license = reinterpret_cast<uint64_t>("GPL");
  load.expected_attach_type = kAttachUprobeMulti;
  const int prog = Bpf(BPF_PROG_LOAD, &load, sizeof(load));
  if (prog < 0) return false;
  const int fd = CreateUprobeMultiLink(prog, "/", {0}, {}, false, -1);
  if (fd >= 0) close(fd);
  close(prog);
  return fd == -EBADF;
}

}  // namespace

bool UprobeMultiSupported() {
  static std::once_flag once;
  static bool supported = false;
  std::call_once(once, [] { supported = Probe(); });
  return supported;
}

int CreateUprobeMultiLink(int programFd, const std::string& path, const std::vector<uint64_t>& offsets,
                          const std::vector<uint64_t>& cookies, bool retprobe, int pid) {
  if (offsets.empty() || (!cookies.empty() && cookies.size() != offsets.size())) return -EINVAL;
  UprobeMultiAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.progFd = static_cast<uint32_t>(programFd);
  attr.attachType = kAttachUprobeMulti;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = cookies.empty() ? 0 : reinterpret_cast<uint64_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.multiFlags = retprobe ? kMultiReturn : 0;
  attr.pid = pid < 0 ? 0 : static_cast<uint32_t>(pid);
  const int fd = Bpf(BPF_LINK_CREATE, &attr, sizeof(attr));
  return fd < 0 ? -errno : fd;
}

}  // namespace tracefleet
