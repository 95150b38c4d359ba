// uprobe_multi links (Linux 6.6+): one BPF link puts one program on many offsets of one file, each
// with its own cookie. The kernel then waits for its RCU grace periods once per link when the link is
// closed, where a perf-event uprobe per offset waits once per offset (measured here: 4 offsets of
// libssl.so.3 came out in ~20 ms as one link against ~300 ms as four). libbpf 1.1.2, the version
// Debian ships, has no API for them (bpf_program__attach_uprobe_multi came in libbpf 1.3), so the
// link is made with the bpf(2) syscall directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tracefleet {

// BPF_TRACE_UPROBE_MULTI in the kernel's enum bpf_attach_type (absent from Debian 12's <linux/bpf.h>).
constexpr uint32_t kAttachUprobeMulti = 48;

// Whether this kernel makes uprobe_multi links (probed once per process, as libbpf 1.3 does: a link
// asked for on "/" fails with EBADF where the kernel knows the attach type, with EINVAL where not).
bool UprobeMultiSupported();

// Links `programFd` (loaded with expected_attach_type kAttachUprobeMulti) to `offsets` of `path`, one
// cookie per offset; `retprobe` makes every one a uretprobe; pid >= 0 limits it to that process.
// Returns the link's fd, or -errno. Closing the fd detaches every offset.
int CreateUprobeMultiLink(int programFd, const std::string& path, const std::vector<uint64_t>& offsets,
                          const std::vector<uint64_t>& cookies, bool retprobe, int pid);

}  // namespace tracefleet
