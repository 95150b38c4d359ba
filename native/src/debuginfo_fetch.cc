#include "debuginfo_fetch.h"

#include <elfutils/debuginfod.h>
#include <gelf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tracefleet {
namespace {

bool HasSymtab(Elf* elf) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == SHT_SYMTAB) return true;
  }
  return false;
}

std::string BuildIdPath(const uint8_t* id, size_t size) {
  std::string hex = Hex(id, size);
  return "/usr/lib/debug/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
}

}  // namespace

std::string Hex(const void* data, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; i++) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

DebuginfoFetch FetchDebuginfo(Elf* elf, const void* buildId, size_t buildIdSize) {
  const char* urls = std::getenv("DEBUGINFOD_URLS");
  if (urls == nullptr || urls[0] == '\0' || buildId == nullptr || buildIdSize == 0) return DebuginfoFetch::kNotNeeded;
  if (HasSymtab(elf)) return DebuginfoFetch::kNotNeeded;
  const auto* id = static_cast<const uint8_t*>(buildId);
  if (access(BuildIdPath(id, buildIdSize).c_str(), R_OK) == 0) return DebuginfoFetch::kNotNeeded;
  // The library's default is 90 s per request: an agent must not hang a table build that long.
  setenv("DEBUGINFOD_TIMEOUT", "10", 0);
  debuginfod_client* client = debuginfod_begin();
  if (client == nullptr) return DebuginfoFetch::kMissing;
  char* path = nullptr;
  int fd = debuginfod_find_debuginfo(client, id, static_cast<int>(buildIdSize), &path);
  debuginfod_end(client);
  std::free(path);
  if (fd < 0) return DebuginfoFetch::kMissing;
  close(fd);
  return DebuginfoFetch::kFetched;
}

}  // namespace tracefleet
