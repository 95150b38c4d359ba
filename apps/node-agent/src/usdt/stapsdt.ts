/**
 * USDT (SystemTap SDT) probe discovery from ELF files, in plain TypeScript.
 *
 * A `<sys/sdt.h>` probe leaves a `nop` at the probe site and a note in the
 * non-allocated `.note.stapsdt` section: owner "stapsdt", type 3, whose
 * descriptor holds three addresses (probe pc, the link-time address of
 * `.stapsdt.base`, the semaphore address or 0) followed by three
 * NUL-terminated strings (provider, probe name, argument spec).
 *
 * Only 64-bit little-endian x86-64 ELF files are supported; only the ELF
 * header, the section and program header tables, the section name table,
 * `.note.stapsdt` and the `.stapsdt.base` header are read from the file.
 *
 * Paths come from the controller (a listing's or a job's binary) and from traced processes (their
 * maps): files are opened through safe-file.ts, so only regular files are ever opened, and errors
 * name what is wrong without the file's size.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { FileRefused, openRegular } from '../safe-file';
import { parseUsdtArgs, type UsdtArg } from './specs';

export { parseProbeSpec, parseUsdtArgs, type UsdtArg } from './specs';
export { listProcessUsdt } from './process';


export interface UsdtProbe {
  provider: string;
  name: string;
  /** absolute path of the ELF file the note is in */
  path: string;
  /** probe address as in the note (link-time virtual address) */
  pc: bigint;
  /** file offset of the probe site (what a uprobe attach takes), adjusted for .stapsdt.base prelink bias */
  fileOffset: bigint;
  /** semaphore address (link-time vaddr) or 0n, and its file offset or 0n */
  semaphore: bigint;
  semaphoreFileOffset: bigint;
  args: UsdtArg[];
  argsRaw: string;
}

/**
 * Why an ELF file could not be read. `ENOTELF`: no ELF magic; `EUNSUPPORTED`: ELF, but not 64-bit LE
 * x86-64 EXEC/DYN; `EREFUSED`: not opened at all (not a regular file, a pseudo file system: safe-file.ts).
 */
export type UsdtElfErrorCode = 'ENOTELF' | 'EUNSUPPORTED' | 'EMALFORMED' | 'EREAD' | 'EREFUSED';

export class UsdtElfError extends Error {
  constructor(
    readonly code: UsdtElfErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'UsdtElfError';
  }
}

// ---- ELF constants ---------------------------------------------------------

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const PT_LOAD = 1;
const SHN_UNDEF = 0;
const SHN_XINDEX = 0xffff;
const PN_XNUM = 0xffff;
const EHDR64_SIZE = 64;
const SHDR64_SIZE = 64;
const PHDR64_SIZE = 56;
const NT_STAPSDT = 3;
const STAPSDT_OWNER = 'stapsdt';
const STAPSDT_NOTE_SECTION = '.note.stapsdt';
const STAPSDT_BASE_SECTION = '.stapsdt.base';
/** Refuse absurd section sizes rather than allocating them (a corrupt header); libjvm's 500 probes take ~100 KiB. */
const MAX_NOTE_SECTION = 16 * 1024 * 1024;
const MAX_TABLE_ENTRIES = 1 << 20;

interface SectionHeader {
  nameOffset: number;
  type: number;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  addralign: bigint;
  name: string;
}

interface LoadSegment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

/** Reads byte ranges of an open file, with bounds checks that name the file. */
class ElfReader {
  constructor(
    readonly fd: number,
    readonly path: string,
    readonly size: number,
  ) {}

  read(offset: bigint | number, length: bigint | number, what: string): Buffer {
    const off = toSafeNumber(offset, this.path, `${what} offset`);
    const len = toSafeNumber(length, this.path, `${what} size`);
    if (off + len > this.size) {
      throw new UsdtElfError(
        'EMALFORMED',
        this.path,
        `truncated or malformed ELF: ${what} (offset ${off}, ${len} bytes) extends past the end of the file`,
      );
    }
    const buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, done, len - done, off + done);
      } catch (err) {
        throw new UsdtElfError('EREAD', this.path, `cannot read ${what}: ${errMessage(err)}`);
      }
      if (n === 0) {
        throw new UsdtElfError('EMALFORMED', this.path, `unexpected end of file while reading ${what}`);
      }
      done += n;
    }
    return buf;
  }
}

function toSafeNumber(v: bigint | number, path: string, what: string): number {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsdtElfError('EMALFORMED', path, `malformed ELF: ${what} ${n} is out of range`);
  }
  return Number(n);
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function cString(buf: Buffer, start: number, path: string, what: string): { value: string; next: number } {
  const end = buf.indexOf(0, start);
  if (end < 0) {
    throw new UsdtElfError('EMALFORMED', path, `malformed ELF: ${what} is not NUL-terminated`);
  }
  return { value: buf.toString('utf8', start, end), next: end + 1 };
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

// ---- public API ------------------------------------------------------------

/**
 * All USDT probes in one ELF file. Throws a {@link UsdtElfError} naming the
 * file when it is unreadable, not ELF, not 64-bit LE x86-64, or malformed;
 * returns [] when the file has no `.note.stapsdt` probes.
 */
export function readUsdtProbes(path: string): UsdtProbe[] {
  const abs = nodePath.resolve(path);
  const { fd, stat } = openForProbes(abs);
  try {
    return readProbesFromFd(fd, abs, stat);
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens a regular file (safe-file.ts); a refusal is a UsdtElfError naming the reason. */
function openForProbes(path: string): { fd: number; stat: fs.Stats } {
  try {
    return openRegular(path);
  } catch (err) {
    if (err instanceof FileRefused) {
      throw new UsdtElfError(err.code === 'EOPEN' ? 'EREAD' : 'EREFUSED', path, `${err.reason}; not read for USDT probe discovery`);
    }
    throw new UsdtElfError('EREAD', path, `cannot open for USDT probe discovery: ${errMessage(err)}`);
  }
}

/** The probes of an ELF file already opened through safe-file.ts (`st` is its fstat). */
export function readProbesFromFd(fd: number, path: string, st: fs.Stats): UsdtProbe[] {
  const r = new ElfReader(fd, path, st.size);
  if (st.size < EHDR64_SIZE) {
    // No size in the message: a listing must not tell the size of files that are not ELF.
    if (st.size >= 4 && isElfMagic(r.read(0, 4, 'ELF magic'))) {
      throw new UsdtElfError('EMALFORMED', path, `truncated ELF file (shorter than the ${EHDR64_SIZE}-byte header)`);
    }
    throw new UsdtElfError('ENOTELF', path, 'not an ELF file (no ELF header)');
  }
  const eh = r.read(0, EHDR64_SIZE, 'ELF header');
  if (!isElfMagic(eh)) {
    throw new UsdtElfError('ENOTELF', path, 'not an ELF file (bad magic)');
  }
  const cls = eh[4];
  const data = eh[5];
  if (cls !== ELFCLASS64) {
    throw new UsdtElfError(
      'EUNSUPPORTED',
      path,
      `unsupported ELF class ${cls === 1 ? 'ELFCLASS32 (32-bit)' : cls}; only 64-bit little-endian x86-64 ELF is supported`,
    );
  }
  if (data !== ELFDATA2LSB) {
    throw new UsdtElfError(
      'EUNSUPPORTED',
      path,
      `unsupported ELF data encoding ${data === 2 ? 'ELFDATA2MSB (big-endian)' : data}; only 64-bit little-endian x86-64 ELF is supported`,
    );
  }
  const eType = eh.readUInt16LE(16);
  const eMachine = eh.readUInt16LE(18);
  if (eMachine !== EM_X86_64) {
    throw new UsdtElfError('EUNSUPPORTED', path, `unsupported ELF machine ${eMachine}; only x86-64 (EM_X86_64 = 62) is supported`);
  }
  if (eType !== ET_EXEC && eType !== ET_DYN) {
    throw new UsdtElfError(
      'EUNSUPPORTED',
      path,
      `unsupported ELF type ${eType}; only executables (ET_EXEC) and shared objects/PIEs (ET_DYN) have probe file offsets`,
    );
  }

  const sections = readSectionHeaders(r, eh);
  const noteSections = sections.filter((s) => s.name === STAPSDT_NOTE_SECTION && s.type === SHT_NOTE);
  if (noteSections.length === 0) return [];

  const baseSection = sections.find((s) => s.name === STAPSDT_BASE_SECTION && s.type !== SHT_NOBITS);
  const segments = readLoadSegments(r, eh, sections);

  const probes: UsdtProbe[] = [];
  for (const sec of noteSections) {
    if (sec.size > BigInt(MAX_NOTE_SECTION)) {
      throw new UsdtElfError('EMALFORMED', path, `malformed ELF: ${STAPSDT_NOTE_SECTION} claims ${sec.size} bytes`);
    }
    const buf = r.read(sec.offset, sec.size, STAPSDT_NOTE_SECTION);
    for (const note of parseStapsdtNotes(buf, sec.addralign === 8n ? 8 : 4, path)) {
      probes.push(resolveProbe(note, baseSection, segments, path));
    }
  }
  return probes;
}

function isElfMagic(b: Buffer): boolean {
  return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

function readSectionHeaders(r: ElfReader, eh: Buffer): SectionHeader[] {
  const shoff = eh.readBigUInt64LE(40);
  const shentsize = eh.readUInt16LE(58);
  let shnum = eh.readUInt16LE(60);
  let shstrndx = eh.readUInt16LE(62);
  if (shoff === 0n) return [];
  if (shentsize !== SHDR64_SIZE) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: section header size ${shentsize}, expected ${SHDR64_SIZE}`);
  }
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    // Extended numbering: the real values live in section header 0.
    const sh0 = r.read(shoff, SHDR64_SIZE, 'section header 0');
    if (shnum === 0) shnum = toSafeNumber(sh0.readBigUInt64LE(32), r.path, 'extended section count');
    if (shstrndx === SHN_XINDEX) shstrndx = sh0.readUInt32LE(40);
  }
  if (shnum > MAX_TABLE_ENTRIES) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: ${shnum} section headers`);
  }
  const table = r.read(shoff, shnum * SHDR64_SIZE, 'section header table');
  const sections: SectionHeader[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = i * SHDR64_SIZE;
    sections.push({
      nameOffset: table.readUInt32LE(o),
      type: table.readUInt32LE(o + 4),
      addr: table.readBigUInt64LE(o + 16),
      offset: table.readBigUInt64LE(o + 24),
      size: table.readBigUInt64LE(o + 32),
      link: table.readUInt32LE(o + 40),
      info: table.readUInt32LE(o + 44),
      addralign: table.readBigUInt64LE(o + 48),
      name: '',
    });
  }
  if (shstrndx === SHN_UNDEF) return sections; // no section names: nothing can be found by name
  if (shstrndx >= shnum) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: section name table index ${shstrndx} >= section count ${shnum}`);
  }
  const strSec = sections[shstrndx];
  if (strSec.type === SHT_NOBITS) return sections;
  if (strSec.size > BigInt(MAX_NOTE_SECTION)) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: section name table claims ${strSec.size} bytes`);
  }
  const strtab = r.read(strSec.offset, strSec.size, 'section name table');
  for (const s of sections) {
    if (s.nameOffset < strtab.length) {
      const end = strtab.indexOf(0, s.nameOffset);
      s.name = strtab.toString('latin1', s.nameOffset, end < 0 ? strtab.length : end);
    }
  }
  return sections;
}

function readLoadSegments(r: ElfReader, eh: Buffer, sections: SectionHeader[]): LoadSegment[] {
  const phoff = eh.readBigUInt64LE(32);
  const phentsize = eh.readUInt16LE(54);
  let phnum = eh.readUInt16LE(56);
  if (phoff === 0n || phnum === 0) return [];
  if (phnum === PN_XNUM && sections.length > 0) phnum = sections[0].info;
  if (phentsize !== PHDR64_SIZE) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: program header size ${phentsize}, expected ${PHDR64_SIZE}`);
  }
  if (phnum > MAX_TABLE_ENTRIES) {
    throw new UsdtElfError('EMALFORMED', r.path, `malformed ELF: ${phnum} program headers`);
  }
  const table = r.read(phoff, phnum * PHDR64_SIZE, 'program header table');
  const out: LoadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * PHDR64_SIZE;
    if (table.readUInt32LE(o) !== PT_LOAD) continue;
    out.push({
      offset: table.readBigUInt64LE(o + 8),
      vaddr: table.readBigUInt64LE(o + 16),
      filesz: table.readBigUInt64LE(o + 32),
      memsz: table.readBigUInt64LE(o + 40),
    });
  }
  return out;
}

interface RawNote {
  pc: bigint;
  base: bigint;
  semaphore: bigint;
  provider: string;
  name: string;
  argsRaw: string;
}

function parseStapsdtNotes(buf: Buffer, align: number, path: string): RawNote[] {
  const out: RawNote[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const namesz = buf.readUInt32LE(off);
    const descsz = buf.readUInt32LE(off + 4);
    const type = buf.readUInt32LE(off + 8);
    const nameOff = off + 12;
    const descOff = nameOff + alignUp(namesz, align);
    if (descOff + descsz > buf.length) {
      throw new UsdtElfError('EMALFORMED', path, `malformed ${STAPSDT_NOTE_SECTION}: note at offset ${off} overruns the section`);
    }
    // The owner name is NUL-terminated and namesz counts the NUL.
    const owner = buf.toString('latin1', nameOff, nameOff + Math.max(0, namesz - 1));
    if (owner === STAPSDT_OWNER && type === NT_STAPSDT) {
      out.push(parseStapsdtDesc(buf.subarray(descOff, descOff + descsz), path, off));
    }
    off = descOff + alignUp(descsz, align);
  }
  return out;
}

function parseStapsdtDesc(desc: Buffer, path: string, noteOffset: number): RawNote {
  const where = `stapsdt note at offset ${noteOffset} of ${STAPSDT_NOTE_SECTION}`;
  if (desc.length < 3 * 8 + 3) {
    throw new UsdtElfError('EMALFORMED', path, `malformed ${where}: descriptor is ${desc.length} bytes`);
  }
  const pc = desc.readBigUInt64LE(0);
  const base = desc.readBigUInt64LE(8);
  const semaphore = desc.readBigUInt64LE(16);
  const provider = cString(desc, 24, path, `provider in ${where}`);
  const name = cString(desc, provider.next, path, `probe name in ${where}`);
  const args = cString(desc, name.next, path, `argument string in ${where}`);
  return { pc, base, semaphore, provider: provider.value, name: name.value, argsRaw: args.value };
}

function resolveProbe(
  note: RawNote,
  baseSection: SectionHeader | undefined,
  segments: LoadSegment[],
  path: string,
): UsdtProbe {
  const probeName = `${note.provider}:${note.name}`;
  let pc = note.pc;
  let semaphore = note.semaphore;
  // Prelink (or any relink) moves sections; the note records where
  // .stapsdt.base was at link time, so the difference is the bias.
  if (baseSection && note.base !== 0n) {
    const bias = baseSection.addr - note.base;
    pc = BigInt.asUintN(64, pc + bias);
    if (semaphore !== 0n) semaphore = BigInt.asUintN(64, semaphore + bias);
  }
  const fileOffset = vaddrToFileOffset(segments, pc, true);
  if (fileOffset === undefined) {
    throw new UsdtElfError(
      'EMALFORMED',
      path,
      `USDT probe ${probeName}: address 0x${pc.toString(16)} is not inside any PT_LOAD segment's file contents`,
    );
  }
  let semaphoreFileOffset = 0n;
  if (semaphore !== 0n) {
    const off = vaddrToFileOffset(segments, semaphore, false);
    if (off === undefined) {
      throw new UsdtElfError(
        'EMALFORMED',
        path,
        `USDT probe ${probeName}: semaphore address 0x${semaphore.toString(16)} is not inside any PT_LOAD segment`,
      );
    }
    semaphoreFileOffset = off;
  }
  let args: UsdtArg[];
  try {
    args = parseUsdtArgs(note.argsRaw);
  } catch (err) {
    throw new UsdtElfError('EMALFORMED', path, `USDT probe ${probeName}: ${errMessage(err)}`);
  }
  return {
    provider: note.provider,
    name: note.name,
    path,
    pc,
    fileOffset,
    semaphore,
    semaphoreFileOffset,
    args,
    argsRaw: note.argsRaw,
  };
}

function vaddrToFileOffset(segments: LoadSegment[], addr: bigint, mustBeInFile: boolean): bigint | undefined {
  for (const seg of segments) {
    const limit = mustBeInFile ? seg.filesz : seg.memsz;
    if (addr >= seg.vaddr && addr < seg.vaddr + limit) {
      return addr - seg.vaddr + seg.offset;
    }
  }
  return undefined;
}
