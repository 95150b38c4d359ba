// Byte offsets of struct members read from an ELF file's DWARF (its own, or the separate debug file its
// build-id or .gnu_debuglink names): how the agent learns an interpreter's layouts from the binary it
// runs instead of from a table keyed by version. The file is hostile input: opened like every file of a
// traced process (safe_open.h), its DWARF walked with bounded depth, unit count and time.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tracefleet {

// A struct (or union) by its tag or typedef name, and a member path into it: "interpreters.head" walks
// nested structs and unions; members of anonymous structs and unions are found as their parent's.
// An empty member asks for the struct's own size.
struct MemberQuery {
  std::string structName;
  std::string member;
};

struct MemberAnswer {
  bool ok = false;
  uint64_t offset = 0;  // from the start of the struct; of the storage byte holding a bitfield's first bit
  bool hasSize = false;
  uint64_t size = 0;       // bytes of the member's type (of the struct, for an empty member)
  int64_t bitOffset = -1;  // a bitfield's first bit from the start of the struct; -1 for other members
  uint64_t bitSize = 0;
  std::string error;  // why not: the struct or a member is absent, or the search gave up
};

struct StructOffsetsLimits {
  uint64_t maxBytes = 1ULL << 30;  // of the ELF file (a separate debug file is not limited)
  uint32_t maxUnits = 100000;      // compile units looked at
  uint32_t timeoutMs = 5000;       // for the whole search
};

struct StructOffsetsFile {
  std::string path;    // opened (a /proc/PID/map_files entry reaches the very inode a process maps)
  std::string seenAs;  // where the process sees it: .gnu_debuglink names a file beside it ("": path)
};

struct StructOffsets {
  std::string error;         // the file could not be read, or has no DWARF; then members is empty
  bool noDebugInfo = false;  // the error is that the file (and any separate debug file) has no DWARF
  std::string debugFile;     // where the DWARF came from: the file itself or its separate debug file
  uint32_t units = 0;        // compile units looked at
  std::vector<MemberAnswer> members;  // one per query, in order
};

// Never throws for what the file holds: every failure is an error in the answer.
StructOffsets FindStructOffsets(const StructOffsetsFile& file, const std::vector<MemberQuery>& queries, const StructOffsetsLimits& limits);

// dwarfStructOffsets(path: string, queries: {struct: string, member?: string}[], options?: {seenAs?, maxBytes?, maxCompileUnits?, timeoutMs?})
Napi::Value DwarfStructOffsetsJs(const Napi::CallbackInfo& info);

}  // namespace tracefleet
