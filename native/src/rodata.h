// Sets `const volatile` globals of a BPF object before load, without a generated
// skeleton: the object's BTF lists every .rodata variable with its offset and size.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

struct bpf_object;

namespace tracefleet {

struct RodataValue {
  const char* name;
  const void* value;
  size_t size;  // must equal the variable's size in the object
};

// Throws std::runtime_error naming objectName and the variable when one is missing or its
// size differs (the object and the addon were built from different headers).
void SetRodata(bpf_object* object, const std::string& objectName, const std::vector<RodataValue>& values);

}  // namespace tracefleet
