// A CPU profile sample as the poll thread hands it to the JS thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bounded_queue.h"

namespace tracefleet {

struct Sample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  std::string comm;
  int32_t kernelStackError = 0;
  int32_t userStackError = 0;
  std::vector<uint64_t> kernelStack;
  std::vector<uint64_t> userStack;
  // Python frames (python.h), innermost first; pyStatus is the BPF's count or a PY_ERR_* (0: not Python).
  std::vector<uint64_t> pyFrames;
  int32_t pyStatus = 0;
  bool pyTruncated = false;
  // Samples this one stands for: 1, or more when identical samples were folded (ProfileConfig.foldSamples).
  uint32_t count = 1;
};

using SampleQueue = BoundedQueue<Sample>;

// What makes two samples the same for folding: pid, both stack errors, the stacks (Python's too) and comm (tid and cpu
// may differ; the first one's are kept). Never empty.
inline std::string FoldKey(const Sample& s) {
  std::string key;
  key.reserve(28 + 8 * (s.kernelStack.size() + s.userStack.size() + s.pyFrames.size()) + s.comm.size());
  auto put = [&key](const void* p, size_t n) { key.append(static_cast<const char*>(p), n); };
  // Both lengths in the head: what follows it splits one way only.
  const uint32_t head[7] = {s.pid,
                            static_cast<uint32_t>(s.kernelStackError),
                            static_cast<uint32_t>(s.userStackError),
                            static_cast<uint32_t>(s.kernelStack.size()),
                            static_cast<uint32_t>(s.userStack.size()),
                            static_cast<uint32_t>(s.pyStatus),
                            static_cast<uint32_t>(s.pyTruncated)};
  put(head, sizeof(head));
  put(s.kernelStack.data(), s.kernelStack.size() * sizeof(uint64_t));
  put(s.userStack.data(), s.userStack.size() * sizeof(uint64_t));
  put(s.pyFrames.data(), s.pyFrames.size() * sizeof(uint64_t));
  key.append(s.comm);
  return key;
}

}  // namespace tracefleet
