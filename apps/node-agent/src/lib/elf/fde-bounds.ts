/**
 * Function bounds from the unwind table every x86-64 ELF carries (`.eh_frame_hdr` and the FDEs it
 * indexes), for functions the symbol tables do not name: a stripped library's static functions
 * (glibc's malloc_printerr and __malloc_assert in Debian's libc.so.6, whose .symtab is gone).
 *
 * Only the layout GCC and Clang emit is read: a version-1 header whose search table is
 * `datarel|sdata4` and FDEs whose start is `pcrel|sdata4` with a 4-byte length. Anything else, and
 * any FDE whose start disagrees with the search table, gives no bounds (callers treat a function
 * without bounds as unknown, never as proven).
 */
import { ElfError, type ElfFile } from './elf-file';

export interface FunctionBounds {
  /** file offsets: [start, end) */
  start: bigint;
  end: bigint;
}

const DW_EH_PE_DATAREL_SDATA4 = 0x3b;
const MAX_FDES = 1 << 20;

/** The FDE-described function containing the code at `fileOffset`, or undefined (also for malformed tables). */
export function functionBoundsAt(elf: ElfFile, fileOffset: bigint): FunctionBounds | undefined {
  try {
    return boundsAt(elf, fileOffset);
  } catch (err) {
    if (err instanceof ElfError) return undefined;
    throw err;
  }
}

function boundsAt(elf: ElfFile, fileOffset: bigint): FunctionBounds | undefined {
  const hdr = elf.sectionNames().find((s) => s.name === '.eh_frame_hdr');
  if (!hdr || hdr.size < 12n || hdr.size > 64n << 20n) return undefined;
  const pc = elf.fileOffsetToVaddr(fileOffset);
  if (pc === undefined) return undefined;
  const h = elf.sectionData(hdr, '.eh_frame_hdr');
  if (h[0] !== 1 || h[3] !== DW_EH_PE_DATAREL_SDATA4 || h[2] !== 0x03 /* udata4 */) return undefined;
  // eh_frame_ptr (encoded with h[1]: 4 bytes for the sdata4/udata4 forms compilers use) then fde_count.
  if ((h[1] & 0x0f) !== 0x0b && (h[1] & 0x0f) !== 0x03) return undefined;
  const count = h.readUInt32LE(8);
  if (count === 0 || count > MAX_FDES || 12 + count * 8 > h.length) return undefined;
  const base = hdr.addr;
  const entry = (i: number): { loc: bigint; fde: bigint } => ({
    loc: base + BigInt(h.readInt32LE(12 + i * 8)),
    fde: base + BigInt(h.readInt32LE(12 + i * 8 + 4)),
  });
  // The last entry starting at or before pc (the table is sorted by start).
  let lo = 0;
  let hi = count - 1;
  if (entry(0).loc > pc) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (entry(mid).loc <= pc) lo = mid;
    else hi = mid - 1;
  }
  const { loc, fde } = entry(lo);
  const fdeOffset = elf.vaddrToFileOffset(fde);
  if (fdeOffset === undefined) return undefined;
  const f = elf.readClipped(fdeOffset, 16n, 'an FDE');
  if (f.length < 16) return undefined;
  const length = f.readUInt32LE(0);
  if (length === 0 || length === 0xffffffff || f.readUInt32LE(4) === 0 /* a CIE */) return undefined;
  const start = fde + 8n + BigInt(f.readInt32LE(8)); // pcrel|sdata4, relative to the field itself
  if (start !== loc) return undefined;
  const range = BigInt(f.readUInt32LE(12));
  if (range === 0n || pc >= start + range) return undefined;
  const startOffset = elf.vaddrToFileOffset(start);
  const endOffset = elf.vaddrToFileOffset(start + range - 1n);
  if (startOffset === undefined || endOffset === undefined || endOffset - startOffset !== range - 1n) return undefined;
  return { start: startOffset, end: startOffset + range };
}
