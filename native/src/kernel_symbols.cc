#include "kernel_symbols.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tracefleet {
namespace {

// Modules and BPF programs have no end in kallsyms; past this distance from the last
// symbol an address is more likely outside any text than inside that function.
constexpr uint64_t kMaxFunctionSpan = 1 << 20;

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace

void KernelSymbols::Load() {
  loaded_ = true;
  std::ifstream file("/proc/kallsyms");
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    std::string addrText, type, name, module;
    if (!(fields >> addrText >> type >> name)) continue;
    fields >> module;
    uint64_t addr = std::strtoull(addrText.c_str(), nullptr, 16);
    if (addr == 0) continue;  // hidden by kptr_restrict, or not a number
    if (name == "_etext" && module.empty()) coreTextEnd_ = addr;
    if (type != "t" && type != "T" && type != "W") continue;
    if (names_.size() > UINT32_MAX - name.size() - 1) break;  // 4 GiB of names: not a kallsyms
    symbols_.push_back(Symbol{addr, static_cast<uint32_t>(names_.size()), module.empty()});
    names_.append(name).push_back('\0');
  }
  // Aliases share an address; stable order keeps kallsyms' first name for it.
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
  symbols_.shrink_to_fit();
  names_.shrink_to_fit();
}

std::string KernelSymbols::Symbolize(uint64_t addr) {
  if (!loaded_) Load();
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                             [](uint64_t a, const Symbol& s) { return a < s.addr; });
  if (it != symbols_.begin()) {
    uint64_t at = std::prev(it)->addr;
    while (it != symbols_.begin() && std::prev(it)->addr == at) --it;
    const Symbol& symbol = *it;
    bool inside = symbol.core ? (coreTextEnd_ == 0 || addr < coreTextEnd_) : addr - symbol.addr < kMaxFunctionSpan;
    if (inside) return std::string(names_.c_str() + symbol.name) + "_[k]";
  }
  return "[kernel]+" + Hex(addr) + "_[k]";
}

}  // namespace tracefleet
