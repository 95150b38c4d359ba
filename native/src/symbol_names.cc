#include "symbol_names.h"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>

namespace tracefleet {

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

std::string WithoutDeleted(const std::string& path) {
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
    return path.substr(0, path.size() - deleted.size());
  }
  return path;
}

std::string Basename(const std::string& path) {
  return WithoutDeleted(path.substr(path.rfind('/') + 1));  // npos + 1 == 0
}

std::string Demangle(const char* name) {
  if (name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return name;
  std::string result(demangled);
  std::free(demangled);
  return result;
}

}  // namespace tracefleet
