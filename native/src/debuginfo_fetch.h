// Separate debuginfo from a debuginfod server (DEBUGINFOD_URLS), fetched on the unwind tables'
// worker thread when a stripped file is first seen, into libdebuginfod's client cache: the
// Symbolizer's libdwfl lookup (which asks the same cache first) then finds it without waiting
// on the network on the JS thread. No Node here.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <string>

namespace tracefleet {

enum class DebuginfoFetch {
  kNotNeeded,  // no DEBUGINFOD_URLS, no build-id, or the file (or /usr/lib/debug) has symbols already
  kFetched,    // the server had it; it is in the client cache
  kMissing,    // asked, and the server did not have it (or could not be reached)
};

// Lower-case hex of bytes (build-ids in paths and keys).
std::string Hex(const void* data, size_t size);

// Asks the servers in DEBUGINFOD_URLS for the debuginfo of elf when it has a build-id and no
// .symtab, and /usr/lib/debug/.build-id has none. Blocks (DEBUGINFOD_TIMEOUT, 10 s unless set).
DebuginfoFetch FetchDebuginfo(Elf* elf, const void* buildId, size_t buildIdSize);

}  // namespace tracefleet
