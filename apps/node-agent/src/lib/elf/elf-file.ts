/**
 * The agent's one ELF reader: the header, section and program header tables, section names and
 * file-offset <-> virtual-address translation of a 64-bit little-endian x86-64 ELF file, read in
 * bounded ranges from an open descriptor (never the whole file).
 *
 * Paths come from the controller (a listing's or a job's binary) and from traced processes (their
 * maps): files are opened through safe-file.ts, so only regular files are ever opened, and every
 * offset and size read from the file is checked against the file before anything is allocated.
 * Errors name what is wrong without the file's size.
 */
import * as fs from 'node:fs';
import { FileRefused, openRegular } from '../../safe-file';

/**
 * Why an ELF file could not be used. `ENOTELF`: no ELF magic; `EUNSUPPORTED`: ELF, but not 64-bit
 * LE x86-64 EXEC/DYN; `EMALFORMED`: a table or offset outside the file; `EREAD`: it could not be
 * opened or read; `EREFUSED`: not opened at all (not a regular file, a pseudo file system:
 * safe-file.ts); `ENOSYM`: the file has no such function symbol.
 */
export type ElfErrorCode = 'ENOTELF' | 'EUNSUPPORTED' | 'EMALFORMED' | 'EREAD' | 'EREFUSED' | 'ENOSYM';

export class ElfError extends Error {
  constructor(
    readonly code: ElfErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'ElfError';
  }
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const PT_LOAD = 1;
export const SHN_UNDEF = 0;
const SHN_XINDEX = 0xffff;
const PN_XNUM = 0xffff;
const EHDR64_SIZE = 64;
const SHDR64_SIZE = 64;
const PHDR64_SIZE = 56;
/** Refuse absurd table sizes rather than allocating them (a corrupt header). */
const MAX_TABLE_ENTRIES = 1 << 20;
/** A section name table larger than this is a corrupt header, not names. */
const MAX_NAME_TABLE = 16 * 1024 * 1024;

export interface ElfSection {
  index: number;
  nameOffset: number;
  /** '' until {@link ElfFile.sectionNames} read the name table (or when there is none) */
  name: string;
  type: number;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  addralign: bigint;
  entsize: bigint;
}

export interface ElfSegment {
  type: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

export interface OpenElfOptions {
  /** refuse regular files larger than this (safe-file.ts ETOOBIG) */
  maxBytes?: number;
  /** what the file is read for, named in a refusal ("USDT probe discovery") */
  purpose?: string;
}

function toSafeNumber(v: bigint | number, path: string, what: string): number {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfError('EMALFORMED', path, `malformed ELF: ${what} ${n} is out of range`);
  }
  return Number(n);
}

function isElfMagic(b: Buffer): boolean {
  return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** A NUL-terminated string of `buf` from `start` (to the end of `buf` when it has no NUL). */
export function cstringAt(buf: Buffer, start: number, encoding: BufferEncoding = 'utf8'): string {
  const end = buf.indexOf(0, start);
  return buf.toString(encoding, start, end < 0 ? buf.length : end);
}

/**
 * One ELF file, open. {@link openElf} opens a path through safe-file.ts (close it with `close()`,
 * or use {@link withElf}); {@link ElfFile.fromFd} reads a descriptor the caller owns.
 */
export class ElfFile {
  readonly type: number;
  readonly sections: ElfSection[];
  private header: Buffer;
  private namesRead = false;
  private segmentCache: ElfSegment[] | undefined;

  readonly size: number;

  private constructor(
    readonly fd: number,
    readonly path: string,
    /** fstat of `fd` */
    readonly stat: fs.Stats,
    private readonly owned: boolean,
  ) {
    this.size = stat.size;
    this.header = this.checkHeader();
    this.type = this.header.readUInt16LE(16);
    this.sections = this.readSectionHeaders();
  }

  /** Reads the ELF file open on `fd` (`stat` is its fstat); the caller keeps and closes `fd`. */
  static fromFd(fd: number, path: string, stat: fs.Stats): ElfFile {
    return new ElfFile(fd, path, stat, false);
  }

  /** Reads the ELF file open on `fd` and closes `fd` on close() (openElf). */
  static owning(fd: number, path: string, stat: fs.Stats): ElfFile {
    return new ElfFile(fd, path, stat, true);
  }

  close(): void {
    if (this.owned) fs.closeSync(this.fd);
  }

  /** `length` bytes at `offset`; EMALFORMED (naming `what`) when that range is not all in the file. */
  read(offset: bigint | number, length: bigint | number, what: string): Buffer {
    const off = toSafeNumber(offset, this.path, `${what} offset`);
    const len = toSafeNumber(length, this.path, `${what} size`);
    if (off + len > this.size) {
      throw new ElfError(
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
        throw new ElfError('EREAD', this.path, `cannot read ${what}: ${errMessage(err)}`);
      }
      if (n === 0) throw new ElfError('EMALFORMED', this.path, `unexpected end of file while reading ${what}`);
      done += n;
    }
    return buf;
  }

  /** Up to `length` bytes at `offset`, cut at the end of the file (none past it): for tables read leniently. */
  readClipped(offset: bigint, length: bigint, what: string): Buffer {
    if (offset >= BigInt(this.size)) return Buffer.alloc(0);
    const room = BigInt(this.size) - offset;
    return this.read(offset, length < room ? length : room, what);
  }

  /** The section's bytes (EMALFORMED when they are not all in the file). */
  sectionData(sec: ElfSection, what: string): Buffer {
    return this.read(sec.offset, sec.size, what);
  }

  /** Fills in `name` of every section from the section name table; returns the sections. */
  sectionNames(): ElfSection[] {
    if (this.namesRead) return this.sections;
    this.namesRead = true;
    const shnum = this.sections.length;
    let shstrndx = this.header.readUInt16LE(62);
    if (shstrndx === SHN_XINDEX && shnum > 0) shstrndx = this.sections[0].link;
    if (shstrndx === SHN_UNDEF || shnum === 0) return this.sections; // no section names: nothing can be found by name
    if (shstrndx >= shnum) {
      throw new ElfError('EMALFORMED', this.path, `malformed ELF: section name table index ${shstrndx} >= section count ${shnum}`);
    }
    const strSec = this.sections[shstrndx];
    if (strSec.type === SHT_NOBITS) return this.sections;
    if (strSec.size > BigInt(MAX_NAME_TABLE)) {
      throw new ElfError('EMALFORMED', this.path, `malformed ELF: section name table claims ${strSec.size} bytes`);
    }
    const strtab = this.read(strSec.offset, strSec.size, 'section name table');
    for (const s of this.sections) {
      if (s.nameOffset < strtab.length) s.name = cstringAt(strtab, s.nameOffset, 'latin1');
    }
    return this.sections;
  }

  /** Every program header (read on first use). */
  segments(): ElfSegment[] {
    if (this.segmentCache) return this.segmentCache;
    const eh = this.header;
    const phoff = eh.readBigUInt64LE(32);
    const phentsize = eh.readUInt16LE(54);
    let phnum = eh.readUInt16LE(56);
    if (phoff === 0n || phnum === 0) return (this.segmentCache = []);
    if (phnum === PN_XNUM && this.sections.length > 0) phnum = this.sections[0].info;
    if (phentsize !== PHDR64_SIZE) {
      throw new ElfError('EMALFORMED', this.path, `malformed ELF: program header size ${phentsize}, expected ${PHDR64_SIZE}`);
    }
    if (phnum > MAX_TABLE_ENTRIES) throw new ElfError('EMALFORMED', this.path, `malformed ELF: ${phnum} program headers`);
    const table = this.read(phoff, phnum * PHDR64_SIZE, 'program header table');
    const out: ElfSegment[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * PHDR64_SIZE;
      out.push({
        type: table.readUInt32LE(o),
        offset: table.readBigUInt64LE(o + 8),
        vaddr: table.readBigUInt64LE(o + 16),
        filesz: table.readBigUInt64LE(o + 32),
        memsz: table.readBigUInt64LE(o + 40),
      });
    }
    return (this.segmentCache = out);
  }

  loadSegments(): ElfSegment[] {
    return this.segments().filter((s) => s.type === PT_LOAD);
  }

  /**
   * The file offset of link-time address `addr`: inside a PT_LOAD segment's file contents
   * (`inFile`), or anywhere in its memory image (a semaphore in .bss-like data); undefined outside.
   */
  vaddrToFileOffset(addr: bigint, inFile = true): bigint | undefined {
    for (const seg of this.loadSegments()) {
      const limit = inFile ? seg.filesz : seg.memsz;
      if (addr >= seg.vaddr && addr < seg.vaddr + limit) return addr - seg.vaddr + seg.offset;
    }
    return undefined;
  }

  /** The link-time address of file offset `offset` (inside a PT_LOAD segment's file contents). */
  fileOffsetToVaddr(offset: bigint): bigint | undefined {
    for (const seg of this.loadSegments()) {
      if (offset >= seg.offset && offset < seg.offset + seg.filesz) return offset - seg.offset + seg.vaddr;
    }
    return undefined;
  }

  private checkHeader(): Buffer {
    const { path } = this;
    if (this.size < EHDR64_SIZE) {
      // No size in the message: a listing must not tell the size of files that are not ELF.
      if (this.size >= 4 && isElfMagic(this.read(0, 4, 'ELF magic'))) {
        throw new ElfError('EMALFORMED', path, `truncated ELF file (shorter than the ${EHDR64_SIZE}-byte header)`);
      }
      throw new ElfError('ENOTELF', path, 'not an ELF file (no ELF header)');
    }
    const eh = this.read(0, EHDR64_SIZE, 'ELF header');
    if (!isElfMagic(eh)) throw new ElfError('ENOTELF', path, 'not an ELF file (bad magic)');
    const cls = eh[4];
    const data = eh[5];
    const only = 'only 64-bit little-endian x86-64 ELF is supported';
    if (cls !== ELFCLASS64) {
      throw new ElfError('EUNSUPPORTED', path, `unsupported ELF class ${cls === 1 ? 'ELFCLASS32 (32-bit)' : cls}; ${only}`);
    }
    if (data !== ELFDATA2LSB) {
      throw new ElfError('EUNSUPPORTED', path, `unsupported ELF data encoding ${data === 2 ? 'ELFDATA2MSB (big-endian)' : data}; ${only}`);
    }
    const eType = eh.readUInt16LE(16);
    const eMachine = eh.readUInt16LE(18);
    if (eMachine !== EM_X86_64) {
      throw new ElfError('EUNSUPPORTED', path, `unsupported ELF machine ${eMachine}; only x86-64 (EM_X86_64 = 62) is supported`);
    }
    if (eType !== ET_EXEC && eType !== ET_DYN) {
      throw new ElfError(
        'EUNSUPPORTED',
        path,
        `unsupported ELF type ${eType}; only executables (ET_EXEC) and shared objects/PIEs (ET_DYN) have probe file offsets`,
      );
    }
    return eh;
  }

  private readSectionHeaders(): ElfSection[] {
    const eh = this.header;
    const shoff = eh.readBigUInt64LE(40);
    const shentsize = eh.readUInt16LE(58);
    let shnum = eh.readUInt16LE(60);
    if (shoff === 0n) return [];
    if (shentsize !== SHDR64_SIZE) {
      throw new ElfError('EMALFORMED', this.path, `malformed ELF: section header size ${shentsize}, expected ${SHDR64_SIZE}`);
    }
    if (shnum === 0) {
      // Extended numbering: the real count lives in section header 0.
      const sh0 = this.read(shoff, SHDR64_SIZE, 'section header 0');
      shnum = toSafeNumber(sh0.readBigUInt64LE(32), this.path, 'extended section count');
    }
    if (shnum > MAX_TABLE_ENTRIES) throw new ElfError('EMALFORMED', this.path, `malformed ELF: ${shnum} section headers`);
    const table = this.read(shoff, shnum * SHDR64_SIZE, 'section header table');
    const sections: ElfSection[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * SHDR64_SIZE;
      sections.push({
        index: i,
        nameOffset: table.readUInt32LE(o),
        name: '',
        type: table.readUInt32LE(o + 4),
        addr: table.readBigUInt64LE(o + 16),
        offset: table.readBigUInt64LE(o + 24),
        size: table.readBigUInt64LE(o + 32),
        link: table.readUInt32LE(o + 40),
        info: table.readUInt32LE(o + 44),
        addralign: table.readBigUInt64LE(o + 48),
        entsize: table.readBigUInt64LE(o + 56),
      });
    }
    return sections;
  }
}

/** Opens a regular file (safe-file.ts) as ELF; a refusal is an ElfError naming the reason (and `purpose`). */
export function openElf(path: string, options: OpenElfOptions = {}): ElfFile {
  const { fd, stat } = openElfFd(path, options);
  try {
    return ElfFile.owning(fd, path, stat);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Runs fn on the ELF file at `path` and closes it, whatever fn does. */
export function withElf<T>(path: string, options: OpenElfOptions, fn: (elf: ElfFile) => T): T {
  const elf = openElf(path, options);
  try {
    return fn(elf);
  } finally {
    elf.close();
  }
}

/** Opens `path` through safe-file.ts; EREAD when it cannot be opened, EREFUSED when it is not a data file. */
export function openElfFd(path: string, options: OpenElfOptions = {}): { fd: number; stat: fs.Stats } {
  const suffix = options.purpose ? `; not read for ${options.purpose}` : '';
  try {
    return openRegular(path, options.maxBytes);
  } catch (err) {
    if (err instanceof FileRefused) throw new ElfError(err.code === 'EOPEN' ? 'EREAD' : 'EREFUSED', path, `${err.reason}${suffix}`);
    const what = options.purpose ? `cannot open for ${options.purpose}` : 'cannot open';
    throw new ElfError('EREAD', path, `${what}: ${errMessage(err)}`);
  }
}
