// Kernel text symbols from /proc/kallsyms, read once and searched by address.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tracefleet {

class KernelSymbols {
 public:
  // "<symbol>_[k]", or "[kernel]+0x<addr>_[k]" outside known kernel text.
  std::string Symbolize(uint64_t addr);

 private:
  struct Symbol {
    uint64_t addr;
    std::string name;
    bool core;  // vmlinux (not a module or BPF program)
  };
  void Load();

  bool loaded_ = false;
  uint64_t coreTextEnd_ = 0;  // _etext
  std::vector<Symbol> symbols_;  // sorted by addr
};

}  // namespace tracefleet
