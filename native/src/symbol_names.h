// How user frames are spelled: demangled names, `module+0x<offset>` fallbacks.
#pragma once

#include <cstdint>
#include <string>

namespace tracefleet {

std::string Hex(uint64_t value);
// The last path component without the " (deleted)" that /proc/<pid>/maps appends.
std::string Basename(const std::string& path);
// The path without " (deleted)".
std::string WithoutDeleted(const std::string& path);
// C++ names demangled; anything else (or what fails to demangle) as given.
std::string Demangle(const char* name);

}  // namespace tracefleet
