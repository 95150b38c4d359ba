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
  // 16 bytes, the name in names_: kallsyms has ~120,000 text symbols, which as {addr, std::string} took ~8 MiB
  // of every symbolizer (one per run) against ~4 MiB now.
  struct Symbol {
    uint64_t addr;
    uint32_t name;  // offset of its NUL-terminated name in names_
    bool core;      // vmlinux (not a module or BPF program)
  };
  void Load();

  bool loaded_ = false;
  uint64_t coreTextEnd_ = 0;  // _etext
  std::vector<Symbol> symbols_;  // sorted by addr
  std::string names_;
};

}  // namespace tracefleet
