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
};

using SampleQueue = BoundedQueue<Sample>;

}  // namespace tracefleet
