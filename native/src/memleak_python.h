// The Python frames of memleak's allocations (memleak/python.bpf.h): the interpreter layouts the agent gives
// (PythonMaps), and the py_stacks map of distinct Python frame chains the snapshot reads and trims.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include "python_maps.h"

struct bpf_map;
struct bpf_object;

namespace tracefleet {

struct MemleakStack;

class MemleakPython {
 public:
  // Before load: finds the maps; without `enabled` (kernel mode, or python off) shrinks them to one entry each,
  // so a run that reads no Python frames pays no Python map memory. Throws naming the step.
  void Prepare(bpf_object* object, const std::string& objectName, bool enabled);
  PythonMaps& Maps() { return maps_; }
  const PythonMaps& Maps() const { return maps_; }
  // The chain py_stacks keeps under id into the group's py fields (id 0, or gone: none).
  void Read(uint32_t id, MemleakStack& group) const;
  // Removes the chains no live allocation referenced at this snapshot nor at the previous one (as the native
  // stacks are trimmed: MemleakSession::TrimStacks); returns the entries left.
  uint32_t Trim(const std::unordered_set<uint32_t>& referenced) const;

 private:
  bool enabled_ = false;
  bpf_map* stacks_ = nullptr;
  PythonMaps maps_;
  mutable std::unordered_set<uint32_t> unreferencedBefore_;
};

}  // namespace tracefleet
