#include "memleak_python.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "libbpf_log.h"
#include "memleak_layout.h"
#include "memleak_session.h"

namespace tracefleet {

void MemleakPython::Prepare(bpf_object* object, const std::string& objectName, bool enabled) {
  stacks_ = bpf_object__find_map_by_name(object, "py_stacks");
  if (stacks_ == nullptr) throw std::runtime_error(objectName + ": not a memleak object with Python frames (needs map 'py_stacks')");
  maps_.Find(object, objectName, enabled);
  enabled_ = enabled;
  if (enabled) return;
  LibbpfLogCapture log;
  for (const char* name : {"py_stacks", "py_threads", "py_procs"}) {
    bpf_map* map = bpf_object__find_map_by_name(object, name);
    int err = map == nullptr ? -ENOENT : bpf_map__set_max_entries(map, 1);
    if (err) throw std::runtime_error(LibbpfError("shrink the unused map " + std::string(name) + " of " + objectName, err, log));
  }
}

void MemleakPython::Read(uint32_t id, MemleakStack& group) const {
  group.pyStackId = id;
  memleak_py_stack value;
  if (!enabled_ || id == 0 || bpf_map_lookup_elem(bpf_map__fd(stacks_), &id, &value) != 0) return;
  group.pyStatus = value.count;
  group.pyTruncated = value.truncated != 0;
  if (value.count > 0) group.pyFrames.assign(value.frames, value.frames + std::min<size_t>(value.count, TRACEFLEET_MAX_PY_FRAMES));
}

uint32_t MemleakPython::Trim(const std::unordered_set<uint32_t>& referenced) const {
  if (!enabled_) return 0;
  const int fd = bpf_map__fd(stacks_);
  std::vector<uint32_t> all;
  uint32_t key = 0, next = 0;
  bool started = false;
  while (bpf_map_get_next_key(fd, started ? &key : nullptr, &next) == 0) {
    all.push_back(next);
    key = next;
    started = true;
  }
  std::unordered_set<uint32_t> keep;
  uint32_t left = 0;
  for (uint32_t id : all) {
    if (referenced.count(id) != 0) {
      left++;
    } else if (unreferencedBefore_.count(id) == 0 || bpf_map_delete_elem(fd, &id) != 0) {
      keep.insert(id);
      left++;
    }
  }
  unreferencedBefore_ = std::move(keep);
  return left;
}

}  // namespace tracefleet
