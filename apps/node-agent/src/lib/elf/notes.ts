/**
 * ELF notes: the generic (namesz, descsz, type, owner, descriptor) records of SHT_NOTE sections, the
 * GNU build-id, and SystemTap SDT (`<sys/sdt.h>`) probe notes.
 *
 * A `<sys/sdt.h>` probe leaves a `nop` at the probe site and a note in the non-allocated
 * `.note.stapsdt` section: owner "stapsdt", type 3, whose descriptor holds three addresses (probe
 * pc, the link-time address of `.stapsdt.base`, the semaphore address or 0) followed by three
 * NUL-terminated strings (provider, probe name, argument spec).
 */
import { ElfError, type ElfFile, type ElfSection, SHT_NOTE } from './elf-file';

export interface ElfNote {
  owner: string;
  type: number;
  desc: Buffer;
  /** offset of the note within its section */
  offset: number;
}

const NT_GNU_BUILD_ID = 3;
const NT_STAPSDT = 3;
export const STAPSDT_NOTE_SECTION = '.note.stapsdt';
export const STAPSDT_BASE_SECTION = '.stapsdt.base';
/** Refuse absurd note sections rather than allocating them (a corrupt header); libjvm's 500 probes take ~100 KiB. */
const MAX_NOTE_SECTION = 16 * 1024 * 1024;

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** The notes of one note section's bytes; EMALFORMED (naming `section`) when a note overruns it. */
export function parseNotes(buf: Buffer, align: number, path: string, section: string): ElfNote[] {
  const out: ElfNote[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const namesz = buf.readUInt32LE(off);
    const descsz = buf.readUInt32LE(off + 4);
    const type = buf.readUInt32LE(off + 8);
    const nameOff = off + 12;
    // Name and descriptor each start at a multiple of the section's alignment (4, or 8 for
    // .note.gnu.property); with 4 this is the usual "pad the name to 4 bytes".
    const descOff = alignUp(nameOff + namesz, align);
    if (descOff + descsz > buf.length) {
      throw new ElfError('EMALFORMED', path, `malformed ${section}: note at offset ${off} overruns the section`);
    }
    // The owner name is NUL-terminated and namesz counts the NUL.
    const owner = buf.toString('latin1', nameOff, nameOff + Math.max(0, namesz - 1));
    out.push({ owner, type, desc: buf.subarray(descOff, descOff + descsz), offset: off });
    off = alignUp(descOff + descsz, align);
  }
  return out;
}

/** The notes of one SHT_NOTE section of `elf`. */
export function sectionNotes(elf: ElfFile, sec: ElfSection, name: string): ElfNote[] {
  if (sec.size > BigInt(MAX_NOTE_SECTION)) {
    throw new ElfError('EMALFORMED', elf.path, `malformed ELF: ${name} claims ${sec.size} bytes`);
  }
  const buf = elf.read(sec.offset, sec.size, name);
  return parseNotes(buf, sec.addralign === 8n ? 8 : 4, elf.path, name);
}

/** The GNU build-id as hex, from any SHT_NOTE section; undefined when the file has none. */
export function readBuildId(elf: ElfFile): string | undefined {
  for (const sec of elf.sectionNames()) {
    if (sec.type !== SHT_NOTE) continue;
    for (const note of sectionNotes(elf, sec, sec.name || `note section ${sec.index}`)) {
      if (note.owner === 'GNU' && note.type === NT_GNU_BUILD_ID && note.desc.length > 0) return note.desc.toString('hex');
    }
  }
  return undefined;
}

export interface StapsdtNote {
  /** probe address as in the note (link-time virtual address, before the .stapsdt.base bias) */
  pc: bigint;
  /** where .stapsdt.base was at link time */
  base: bigint;
  semaphore: bigint;
  provider: string;
  name: string;
  argsRaw: string;
}

function cString(buf: Buffer, start: number, path: string, what: string): { value: string; next: number } {
  const end = buf.indexOf(0, start);
  if (end < 0) throw new ElfError('EMALFORMED', path, `malformed ELF: ${what} is not NUL-terminated`);
  return { value: buf.toString('utf8', start, end), next: end + 1 };
}

function parseStapsdtDesc(desc: Buffer, path: string, noteOffset: number): StapsdtNote {
  const where = `stapsdt note at offset ${noteOffset} of ${STAPSDT_NOTE_SECTION}`;
  if (desc.length < 3 * 8 + 3) {
    throw new ElfError('EMALFORMED', path, `malformed ${where}: descriptor is ${desc.length} bytes`);
  }
  const pc = desc.readBigUInt64LE(0);
  const base = desc.readBigUInt64LE(8);
  const semaphore = desc.readBigUInt64LE(16);
  const provider = cString(desc, 24, path, `provider in ${where}`);
  const name = cString(desc, provider.next, path, `probe name in ${where}`);
  const args = cString(desc, name.next, path, `argument string in ${where}`);
  return { pc, base, semaphore, provider: provider.value, name: name.value, argsRaw: args.value };
}

/** The stapsdt notes of every `.note.stapsdt` section, in file order ([] when there is none). */
export function readStapsdtNotes(elf: ElfFile): StapsdtNote[] {
  const out: StapsdtNote[] = [];
  for (const sec of elf.sectionNames()) {
    if (sec.name !== STAPSDT_NOTE_SECTION || sec.type !== SHT_NOTE) continue;
    for (const note of sectionNotes(elf, sec, STAPSDT_NOTE_SECTION)) {
      if (note.owner === 'stapsdt' && note.type === NT_STAPSDT) out.push(parseStapsdtDesc(note.desc, elf.path, note.offset));
    }
  }
  return out;
}
