// Unwind tables: for every pc range of an ELF file, how to find the caller's frame (the rows of
// packages/bpf/src/unwind/unwind.h). Built from .eh_frame, or .debug_frame when the file has no
// .eh_frame, with libdw's CFI reader: it runs the CIE/FDE programs (remember/restore state,
// advance_loc, ...) and we only classify the resulting rules. No Node and no BPF here.
#pragma once

#include <linux/types.h>
#include <libelf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "unwind/unwind.h"

namespace tracefleet {

struct UnwindTableStats {
  uint64_t fdes = 0;
  uint64_t rows = 0;        // after merging equal neighbours
  uint64_t expressions = 0; // rows with UNWIND_CFA_EXPRESSION (counted cuts at run time)
  uint64_t plt = 0;
  uint64_t signal = 0;
  std::string source;       // ".eh_frame", ".debug_frame" or "" when the file has neither
};

// Rows sorted by pc, file virtual addresses. Empty (source "") when the file has no CFI.
// Throws std::runtime_error naming what could not be read.
std::vector<unwind_row> BuildUnwindTable(Elf* elf, UnwindTableStats& stats);

// The same for a file path (tests, tools).
std::vector<unwind_row> BuildUnwindTableForPath(const std::string& path, UnwindTableStats& stats);

// The row that covers vaddr, or nullptr (binary search: what the BPF program does).
const unwind_row* FindUnwindRow(const std::vector<unwind_row>& rows, uint64_t vaddr);

}  // namespace tracefleet
