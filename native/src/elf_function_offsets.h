// File offsets of exported functions of an ELF file: where a uprobe on the function goes
// (bpf_program__attach_uprobe_opts takes a file offset).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tracefleet {

struct FunctionOffsets {
  std::map<std::string, uint64_t> found;   // name → file offset of its first instruction
  std::map<std::string, std::string> why;  // name → why it has no offset (missing, an IFUNC, ...)
};

// Looks the names up in .dynsym (then .symtab). Of several definitions it takes the default
// symbol version. Throws std::runtime_error naming the file when it cannot be read as ELF.
FunctionOffsets FindFunctionOffsets(const std::string& path, const std::vector<std::string>& names);

}  // namespace tracefleet
