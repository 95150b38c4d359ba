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
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

export interface UsdtArg {
  raw: string;
  size: number;
  signed: boolean;
  /** e.g. register "%rdi", memory "-4(%rbp)", constant "$5" */
  location: string;
  kind: 'register' | 'memory' | 'constant';
}

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

/** Why an ELF file could not be read. `ENOTELF`: no ELF magic; `EUNSUPPORTED`: ELF, but not 64-bit LE x86-64 EXEC/DYN. */
export type UsdtElfErrorCode = 'ENOTELF' | 'EUNSUPPORTED' | 'EMALFORMED' | 'EREAD';

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
/** Refuse absurd section sizes rather than allocating them (a corrupt header). */
const MAX_NOTE_SECTION = 256 * 1024 * 1024;
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
        `truncated or malformed ELF: ${what} (offset ${off}, ${len} bytes) extends past the end of the file (${this.size} bytes)`,
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

function errMessage(err: unknown): string {
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
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (err) {
    throw new UsdtElfError('EREAD', abs, `cannot open for USDT probe discovery: ${errMessage(err)}`);
  }
  try {
    return readProbesFromFd(fd, abs);
  } finally {
    fs.closeSync(fd);
  }
}

function readProbesFromFd(fd: number, path: string): UsdtProbe[] {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    throw new UsdtElfError('EREAD', path, `cannot stat: ${errMessage(err)}`);
  }
  if (!st.isFile()) {
    throw new UsdtElfError('ENOTELF', path, 'not an ELF file (not a regular file)');
  }
  const r = new ElfReader(fd, path, st.size);
  if (st.size < EHDR64_SIZE) {
    if (st.size >= 4 && isElfMagic(r.read(0, 4, 'ELF magic'))) {
      throw new UsdtElfError('EMALFORMED', path, `truncated ELF file (${st.size} bytes, header needs ${EHDR64_SIZE})`);
    }
    throw new UsdtElfError('ENOTELF', path, `not an ELF file (${st.size} bytes, no ELF header)`);
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

// ---- argument specs --------------------------------------------------------

const SIZED_ARG = /^(-?)(\d+)@(.+)$/;
const REGISTER = /^%[a-z][a-z0-9]*$/;
const CONSTANT = /^\$[-+]?(?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.]*(?:[-+](?:0x[0-9a-f]+|\d+))?)$/i;
// AT&T memory operand: [disp](%base[,%index[,scale]]) or (,%index,scale); disp may be
// a number, a symbol, or symbol+/-number, e.g. "-16(%rbp)", "8+foo(%rip)", "(%rax,%rbx,8)".
const DISP = String.raw`[-+]?(?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.$@]*)(?:[-+](?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.$@]*))*`;
const MEMORY = new RegExp(String.raw`^(?:${DISP})?\((?:%[a-z][a-z0-9]*)?(?:,(?:%[a-z][a-z0-9]*)?(?:,[1248])?)?\)$`, 'i');
const ABSOLUTE = new RegExp(String.raw`^${DISP}$`, 'i');

/**
 * Parses an SDT argument string, e.g. "-4@%edi 8@-16(%rbp) 4@$5 -8@8+foo(%rip)".
 * "N@" gives the size in bytes (1, 2, 4 or 8), a leading "-" that it is signed.
 * The size-less form of SDT v1 notes ("%rdi") is read as 8 bytes, unsigned.
 * Throws an Error naming the argument for anything else.
 */
export function parseUsdtArgs(spec: string): UsdtArg[] {
  const trimmed = spec.trim();
  if (trimmed === '') return [];
  return trimmed.split(/\s+/).map((raw, i) => parseOneArg(raw, i, spec));
}

function parseOneArg(raw: string, index: number, spec: string): UsdtArg {
  const bad = (why: string) => new Error(`invalid USDT argument #${index + 1} "${raw}" in "${spec}": ${why}`);
  let size = 8;
  let signed = false;
  let location = raw;
  const m = SIZED_ARG.exec(raw);
  if (m) {
    size = Number(m[2]);
    signed = m[1] === '-';
    location = m[3];
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
      throw bad(`size ${m[1]}${m[2]} is not one of 1, 2, 4, 8 (optionally negative for signed)`);
    }
  } else if (/^-?\d+[a-z]*@/i.test(raw)) {
    throw bad('unrecognised size prefix');
  }
  let kind: UsdtArg['kind'];
  if (location.startsWith('%')) {
    if (!REGISTER.test(location)) throw bad(`"${location}" is not a register name`);
    kind = 'register';
  } else if (location.startsWith('$')) {
    if (!CONSTANT.test(location)) throw bad(`"${location}" is not an immediate constant`);
    kind = 'constant';
  } else if (MEMORY.test(location) || ABSOLUTE.test(location)) {
    kind = 'memory';
  } else {
    throw bad(`"${location}" is not a register, memory operand or constant`);
  }
  return { raw, size, signed, location, kind };
}

// ---- probe specs -----------------------------------------------------------

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses "provider:probe" (both C identifiers); throws an Error explaining what is wrong otherwise. */
export function parseProbeSpec(spec: string): { provider: string; name: string } {
  if (typeof spec !== 'string') {
    throw new Error(`invalid USDT probe spec ${String(spec)}: expected a string "provider:probe"`);
  }
  const parts = spec.split(':');
  if (parts.length !== 2) {
    throw new Error(
      `invalid USDT probe spec "${spec}": expected exactly one ":" as in "provider:probe" (e.g. "python:gc__start"), found ${parts.length - 1}`,
    );
  }
  const [provider, name] = parts;
  if (!IDENT.test(provider)) {
    throw new Error(
      `invalid USDT probe spec "${spec}": provider "${provider}" must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`,
    );
  }
  if (!IDENT.test(name)) {
    throw new Error(`invalid USDT probe spec "${spec}": probe name "${name}" must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  return { provider, name };
}

// ---- processes ---------------------------------------------------------------

/**
 * USDT probes of a running process: its executable and every file-backed ELF it
 * maps, each read once through /proc/<pid>/root so that files in another mount
 * namespace are the ones the process really maps. `path` in the result is that
 * /proc/<pid>/root/... path, which can be opened (and attached to) from here.
 * Non-ELF mappings, non-regular files, deleted files and ELF files of another
 * class/machine are skipped; other errors (no such pid, no permission, a
 * malformed ELF) are thrown.
 */
export function listProcessUsdt(pid: number): UsdtProbe[] {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error(`listProcessUsdt: invalid pid ${pid}`);
  }
  const procDir = `/proc/${pid}`;
  let maps: string;
  try {
    maps = fs.readFileSync(`${procDir}/maps`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the memory maps of pid ${pid} (${procDir}/maps): ${errMessage(err)}`);
  }

  const candidates: string[] = [];
  try {
    candidates.push(fs.readlinkSync(`${procDir}/exe`));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Kernel threads have no executable; a vanished process shows up below.
    if (code !== 'ENOENT') {
      throw new Error(`cannot read the executable of pid ${pid} (${procDir}/exe): ${errMessage(err)}`);
    }
  }
  for (const line of maps.split('\n')) {
    const p = mappedPath(line);
    if (p !== undefined) candidates.push(p);
  }

  const root = `${procDir}/root`;
  const seenPaths = new Set<string>();
  const seenInodes = new Set<string>();
  const probes: UsdtProbe[] = [];
  for (const p of candidates) {
    if (!p.startsWith('/') || p.endsWith(' (deleted)') || seenPaths.has(p)) continue;
    seenPaths.add(p);
    const full = root + p;
    let fd: number;
    try {
      fd = fs.openSync(full, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue; // replaced or unlinked since it was mapped
      throw new Error(`cannot open ${full} (mapped by pid ${pid}): ${errMessage(err)}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) continue;
      const key = `${st.dev}:${st.ino}`;
      if (seenInodes.has(key)) continue;
      seenInodes.add(key);
      try {
        probes.push(...readProbesFromFd(fd, full));
      } catch (err) {
        if (err instanceof UsdtElfError && (err.code === 'ENOTELF' || err.code === 'EUNSUPPORTED')) continue;
        throw err;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return probes;
}

/** The file path of a /proc/<pid>/maps line, or undefined for anonymous/special mappings. */
function mappedPath(line: string): string | undefined {
  // address perms offset dev inode [pathname] — pathname may contain spaces.
  const m = /^\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s*(.*)$/.exec(line);
  if (!m) return undefined;
  if (m[1] === '0') return undefined;
  const p = m[2];
  return p.startsWith('/') ? p : undefined;
}
