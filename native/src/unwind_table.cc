#include "unwind_table.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "safe_open.h"

namespace tracefleet {
namespace {

// x86-64 DWARF register numbers.
constexpr int kRbp = 6;
constexpr int kRsp = 7;
constexpr int kRip = 16;  // the return address column
constexpr size_t kMaxRows = size_t{1} << UNWIND_SEARCH_STEPS;

struct Cfi {
  Dwarf_CFI* cfi = nullptr;
  Dwarf* dwarf = nullptr;  // owns cfi when .debug_frame
  bool ownsCfi = false;    // dwarf_getcfi_elf's result must be ended
  Elf_Data* data = nullptr;
  uint64_t sectionAddr = 0;
  bool ehFrame = true;
  ~Cfi() {
    if (ownsCfi && cfi != nullptr) dwarf_cfi_end(cfi);
    if (dwarf != nullptr) dwarf_end(dwarf);
  }
};

Elf_Scn* FindSection(Elf* elf, const char* name, GElf_Shdr& shdr) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* n = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (n != nullptr && std::strcmp(n, name) == 0 && shdr.sh_type != SHT_NOBITS) return scn;
  }
  return nullptr;
}

// A DW_EH_PE-encoded value at p (advanced past it). fieldAddr is p's virtual address (pcrel).
bool ReadEncoded(const uint8_t*& p, const uint8_t* end, uint8_t enc, uint64_t fieldAddr, bool applyBase, uint64_t& out) {
  if (enc == DW_EH_PE_omit) return false;
  int64_t value = 0;
  // Reads a T at p into value (sign- or zero-extended by T's type); false past the section's end.
  auto take = [&](auto type) {
    using T = decltype(type);
    if (static_cast<size_t>(end - p) < sizeof(T)) return false;
    T v;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    value = static_cast<int64_t>(v);
    return true;
  };
  bool ok;
  switch (enc & 0x0f) {
    case DW_EH_PE_absptr:
    case DW_EH_PE_udata8:
    case DW_EH_PE_sdata8:
      ok = take(int64_t{});
      break;
    case DW_EH_PE_udata4:
      ok = take(uint32_t{});
      break;
    case DW_EH_PE_sdata4:
      ok = take(int32_t{});
      break;
    case DW_EH_PE_udata2:
      ok = take(uint16_t{});
      break;
    case DW_EH_PE_sdata2:
      ok = take(int16_t{});
      break;
    default:
      return false;  // uleb128/sleb128 pointers: not emitted by any x86-64 toolchain for FDEs
  }
  if (!ok) return false;
  if (applyBase) {
    switch (enc & 0x70) {
      case DW_EH_PE_absptr:
        break;
      case DW_EH_PE_pcrel:
        value += static_cast<int64_t>(fieldAddr);
        break;
      default:
        return false;  // textrel/datarel/funcrel FDE pointers do not occur on x86-64
    }
  }
  out = static_cast<uint64_t>(value);
  return true;
}

// The FDE pointer encoding of a CIE ('R' in its augmentation), DW_EH_PE_absptr if none.
uint8_t FdeEncoding(const Dwarf_CIE& cie, bool ehFrame) {
  if (!ehFrame || cie.augmentation == nullptr || cie.augmentation[0] != 'z') return DW_EH_PE_absptr;
  const uint8_t* p = cie.augmentation_data;
  const uint8_t* end = p + cie.augmentation_data_size;
  for (const char* a = cie.augmentation + 1; *a != '\0' && p != nullptr && p < end; a++) {
    switch (*a) {
      case 'R':
        return *p;
      case 'L':
        p++;
        break;
      case 'P': {
        uint8_t enc = *p++;
        uint64_t ignored;
        if (!ReadEncoded(p, end, enc & 0x7f, 0, false, ignored)) return DW_EH_PE_absptr;
        break;
      }
      default:
        break;  // 'S' (signal frame), 'B': no data
    }
  }
  return DW_EH_PE_absptr;
}

int64_t Signed(Dwarf_Word w) { return static_cast<int64_t>(w); }

// CFA rule from libdw's expression: breg(rsp|rbp)+off, the .plt pattern, or a signal frame's
// "*(rsp + off)".
void ClassifyCfa(Dwarf_Frame* frame, bool signal, unwind_row& row, UnwindTableStats& stats) {
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  row.cfa_rule = UNWIND_CFA_EXPRESSION;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) return;
  auto bregOf = [](const Dwarf_Op& op, int& reg, int64_t& off) {
    if (op.atom == DW_OP_bregx) {
      reg = static_cast<int>(op.number);
      off = Signed(op.number2);
      return true;
    }
    if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
      reg = op.atom - DW_OP_breg0;
      off = Signed(op.number);
      return true;
    }
    return false;
  };
  int reg = -1;
  int64_t off = 0;
  if (nops == 1 && bregOf(ops[0], reg, off) && (reg == kRsp || reg == kRbp) && off >= INT32_MIN && off <= INT32_MAX) {
    row.cfa_rule = reg == kRsp ? UNWIND_CFA_RSP : UNWIND_CFA_RBP;
    row.cfa_offset = static_cast<int32_t>(off);
    return;
  }
  // binutils' .plt CFI: rsp + 8 + ((rip & 15) >= N) << 3, N = 11 (lazy .plt) or 10 (.plt with IBT).
  if (nops == 9 && bregOf(ops[0], reg, off) && reg == kRsp && off == 8 && ops[1].atom == DW_OP_breg16 &&
      ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and && ops[4].atom >= DW_OP_lit0 && ops[4].atom <= DW_OP_lit31 &&
      ops[5].atom == DW_OP_ge && ops[6].atom == DW_OP_lit3 && ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus) {
    row.cfa_rule = UNWIND_CFA_PLT;
    row.cfa_offset = ops[4].atom - DW_OP_lit0;
    stats.plt++;
    return;
  }
  // glibc's __restore_rt: CFA = *(rsp + off), the saved rsp in the ucontext.
  if (signal && nops == 2 && bregOf(ops[0], reg, off) && reg == kRsp && ops[1].atom == DW_OP_deref && off > 0 &&
      off < 4096) {
    row.cfa_rule = UNWIND_CFA_SIGNAL;
    row.cfa_offset = static_cast<int32_t>(off);
  }
}

// A register saved at CFA + n: libdw gives [call_frame_cfa] or [call_frame_cfa, plus_uconst n].
bool SavedAtCfa(Dwarf_Op* ops, size_t nops, int64_t& at) {
  if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
    at = 0;
    return true;
  }
  if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
    at = Signed(ops[1].number);
    return true;
  }
  return false;
}

// A register saved at rsp + n (signal frames): [call_frame_cfa?, breg7 n] as libdw gives
// DW_CFA_expression rules.
bool SavedAtRsp(Dwarf_Op* ops, size_t nops, int64_t& at) {
  for (size_t i = 0; i < nops; i++) {
    if (ops[i].atom == DW_OP_breg0 + kRsp && i == nops - 1) {
      at = Signed(ops[i].number);
      return true;
    }
    if (ops[i].atom != DW_OP_call_frame_cfa) return false;
  }
  return false;
}

void ClassifyRegisters(Dwarf_Frame* frame, unwind_row& row, UnwindTableStats& stats) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  int64_t at = 0;

  if (row.cfa_rule == UNWIND_CFA_SIGNAL) {
    int64_t rip = 0, rbp = 0;
    bool ok = dwarf_frame_register(frame, kRip, mem, &ops, &nops) == 0 && SavedAtRsp(ops, nops, rip) &&
              rip == row.cfa_offset + 8 && dwarf_frame_register(frame, kRbp, mem, &ops, &nops) == 0 &&
              SavedAtRsp(ops, nops, rbp) && rbp > 0 && rbp < 4096;
    if (!ok) {
      row.cfa_rule = UNWIND_CFA_EXPRESSION;
      return;
    }
    row.rbp_rule = UNWIND_RBP_OFFSET;
    row.rbp_offset = static_cast<int16_t>(rbp);
    stats.signal++;
    return;
  }
  if (dwarf_frame_register(frame, kRip, mem, &ops, &nops) != 0) {
    row.cfa_rule = UNWIND_CFA_EXPRESSION;
    return;
  }
  if (nops == 0 && ops == mem) {
    row.cfa_rule = UNWIND_CFA_END;  // DW_CFA_undefined rip: the outermost frame
    return;
  }
  if (!SavedAtCfa(ops, nops, at) || at != -8) {
    // x86-64 always returns through the word below the CFA; anything else is not a call frame we know.
    row.cfa_rule = UNWIND_CFA_EXPRESSION;
    return;
  }
  if (dwarf_frame_register(frame, kRbp, mem, &ops, &nops) != 0) {
    row.rbp_rule = UNWIND_RBP_UNDEFINED;
  } else if (nops == 0) {
    row.rbp_rule = ops == nullptr ? UNWIND_RBP_SAME : UNWIND_RBP_UNDEFINED;
  } else if (SavedAtCfa(ops, nops, at) && at >= INT16_MIN && at <= INT16_MAX) {
    row.rbp_rule = UNWIND_RBP_OFFSET;
    row.rbp_offset = static_cast<int16_t>(at);
  } else {
    row.rbp_rule = UNWIND_RBP_UNDEFINED;
  }
}

bool SameRule(const unwind_row& a, const unwind_row& b) {
  return a.cfa_rule == b.cfa_rule && a.cfa_offset == b.cfa_offset && a.rbp_rule == b.rbp_rule &&
         a.rbp_offset == b.rbp_offset;
}

// One CFI section: .eh_frame (ehFrame) or .debug_frame. False when the file has no such section.
bool OpenCfi(Elf* elf, bool ehFrame, Cfi& out) {
  const char* name = ehFrame ? ".eh_frame" : ".debug_frame";
  GElf_Shdr shdr;
  Elf_Scn* scn = FindSection(elf, name, shdr);
  if (scn == nullptr || shdr.sh_size == 0) return false;
  out.ehFrame = ehFrame;
  if (ehFrame) {
    out.cfi = dwarf_getcfi_elf(elf);
    out.ownsCfi = true;
  } else {
    out.dwarf = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
    out.cfi = out.dwarf != nullptr ? dwarf_getcfi(out.dwarf) : nullptr;
  }
  if (out.cfi == nullptr) throw std::runtime_error(std::string("read ") + name + ": " + dwarf_errmsg(-1));
  out.data = elf_getdata(scn, nullptr);
  if (out.data == nullptr || out.data->d_buf == nullptr) throw std::runtime_error(std::string("read ") + name + " data: " + elf_errmsg(-1));
  out.sectionAddr = shdr.sh_addr;
  return true;
}

struct Range {
  uint64_t lo, hi;
  Cfi* cfi;
};

// The [lo, hi) of every FDE of one section.
void CollectRanges(Elf* elf, Cfi& cfi, std::vector<Range>& out, UnwindTableStats& stats) {
  const char* ident = elf_getident(elf, nullptr);
  const auto* base = static_cast<const uint8_t*>(cfi.data->d_buf);
  const uint8_t* sectionEnd = base + cfi.data->d_size;
  Dwarf_Off offset = 0;
  for (;;) {
    Dwarf_Off next = 0;
    Dwarf_CFI_Entry entry;
    int r = dwarf_next_cfi(reinterpret_cast<const unsigned char*>(ident), cfi.data, cfi.ehFrame, offset, &next, &entry);
    if (r != 0) break;  // 1: end of section; -1: malformed tail, keep what was read
    offset = next;
    if (dwarf_cfi_cie_p(&entry)) continue;
    Dwarf_CFI_Entry cieEntry;
    Dwarf_Off cieNext = 0;
    if (dwarf_next_cfi(reinterpret_cast<const unsigned char*>(ident), cfi.data, cfi.ehFrame, entry.fde.CIE_pointer,
                       &cieNext, &cieEntry) != 0 ||
        !dwarf_cfi_cie_p(&cieEntry)) {
      continue;
    }
    uint8_t enc = FdeEncoding(cieEntry.cie, cfi.ehFrame);
    const uint8_t* p = entry.fde.start;
    uint64_t lo = 0, len = 0;
    if (p < base || p >= sectionEnd) continue;
    if (!ReadEncoded(p, sectionEnd, enc, cfi.sectionAddr + (p - base), true, lo)) continue;
    if (!ReadEncoded(p, sectionEnd, enc & 0x0f, 0, false, len)) continue;
    if (len == 0 || lo + len < lo) continue;
    stats.fdes++;
    out.push_back({lo, lo + len, &cfi});
  }
}

}  // namespace

std::vector<unwind_row> BuildUnwindTable(Elf* elf, UnwindTableStats& stats) {
  // An unreadable file must not pass for an ELF file without CFI (that one is unwound by frame pointer).
  size_t shstrndx = 0;
  const char* ident = elf_getident(elf, nullptr);
  if (elf_kind(elf) != ELF_K_ELF || ident == nullptr) throw std::runtime_error("not an ELF file");
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) throw std::runtime_error(std::string("read section headers: ") + elf_errmsg(-1));
  // .eh_frame first; .debug_frame fills what it does not cover (or everything, when there is no
  // .eh_frame: some toolchains put a binary's CFI only there and leave .eh_frame to crt objects).
  Cfi eh, debug;
  std::vector<Range> ranges;
  if (OpenCfi(elf, true, eh)) {
    CollectRanges(elf, eh, ranges, stats);
    stats.source = ".eh_frame";
  }
  bool hasDebug = false;
  try {
    hasDebug = OpenCfi(elf, false, debug);
  } catch (const std::exception&) {
    if (ranges.empty()) throw;  // .debug_frame was all there was
  }
  if (hasDebug) {
    std::vector<Range> extra;
    CollectRanges(elf, debug, extra, stats);
    std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) { return x.lo < y.lo; });
    size_t before = ranges.size();
    for (const Range& r : extra) {
      auto it = std::upper_bound(ranges.begin(), ranges.begin() + before, r.lo, [](uint64_t v, const Range& x) { return v < x.lo; });
      bool covered = (it != ranges.begin() + before && it->lo < r.hi) || (it != ranges.begin() && (it - 1)->hi > r.lo);
      if (!covered) ranges.push_back(r);
    }
    if (ranges.size() > before) stats.source = before == 0 ? ".debug_frame" : ".eh_frame+.debug_frame";
  }
  if (ranges.empty()) return {};
  // The BPF search finds a row among at most 2^UNWIND_SEARCH_STEPS; a file claiming more FDEs than
  // that is hostile or broken, and would cost the agent memory in proportion.
  if (ranges.size() > kMaxRows) throw std::runtime_error(std::to_string(ranges.size()) + " FDEs, more than a table can hold");

  // Rows of each FDE, then a NONE row at its end unless the next FDE starts there. A row at the pc
  // of the last one replaces it (an earlier FDE's end marker); one with the last one's rule adds nothing.
  std::vector<unwind_row> rows;
  auto emit = [&rows](const unwind_row& row) {
    if (!rows.empty() && rows.back().pc == row.pc) rows.back() = row;
    else if (rows.empty() || !SameRule(rows.back(), row)) rows.push_back(row);
  };
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });

  for (size_t i = 0; i < ranges.size(); i++) {
    const Range& range = ranges[i];
    // FDEs that overlap (broken or hostile files) must not make the rows go backwards: the BPF search needs them sorted.
    uint64_t pc = rows.empty() ? range.lo : std::max<uint64_t>(range.lo, rows.back().pc);
    while (pc < range.hi) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(range.cfi->cfi, pc, &frame) != 0) break;
      std::unique_ptr<Dwarf_Frame, void (*)(void*)> owned(frame, free);
      Dwarf_Addr start = 0, end = 0;
      bool signal = false;
      // dwarf_frame_info returns the return address register, or -1.
      if (dwarf_frame_info(frame, &start, &end, &signal) < 0 || end <= pc) break;
      unwind_row row{};
      row.pc = pc;
      ClassifyCfa(frame, signal, row, stats);
      if (row.cfa_rule != UNWIND_CFA_EXPRESSION) ClassifyRegisters(frame, row, stats);
      if (row.cfa_rule == UNWIND_CFA_EXPRESSION) stats.expressions++;
      emit(row);
      pc = std::min<uint64_t>(end, range.hi);
      if (rows.size() > kMaxRows) throw std::runtime_error("more than " + std::to_string(kMaxRows) + " unwind rows");
    }
    bool contiguous = i + 1 < ranges.size() && ranges[i + 1].lo <= range.hi;
    if (!contiguous && (rows.empty() || range.hi > static_cast<uint64_t>(rows.back().pc))) {
      unwind_row gap{};
      gap.pc = range.hi;
      gap.cfa_rule = UNWIND_CFA_NONE;
      emit(gap);
    }
  }
  stats.rows = rows.size();
  return rows;
}

std::vector<unwind_row> BuildUnwindTableForPath(const std::string& path, UnwindTableStats& stats) {
  SafeOpenResult file = SafeOpenRegular(path);
  if (!file.ok()) throw std::runtime_error("open " + path + ": " + file.error);
  int fd = file.fd.Release();
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) {
    close(fd);
    throw std::runtime_error("read ELF " + path + ": " + elf_errmsg(-1));
  }
  try {
    std::vector<unwind_row> rows = BuildUnwindTable(elf, stats);
    elf_end(elf);
    close(fd);
    return rows;
  } catch (const std::exception& e) {
    elf_end(elf);
    close(fd);
    throw std::runtime_error(path + ": " + e.what());
  }
}

const unwind_row* FindUnwindRow(const std::vector<unwind_row>& rows, uint64_t vaddr) {
  auto it = std::upper_bound(rows.begin(), rows.end(), vaddr, [](uint64_t v, const unwind_row& r) { return v < r.pc; });
  if (it == rows.begin()) return nullptr;
  return &*(it - 1);
}

}  // namespace tracefleet
