/**
 * Function symbols of an ELF file (.dynsym and .symtab, with GNU symbol versions), a cheap look at
 * the dynamic string table before parsing them, and a search for named data symbols.
 */
import { cstringAt, ElfError, type ElfFile, type ElfSection, openElf, SHN_UNDEF, SHT_NOBITS, withElf } from './elf-file';

export interface ElfSymbol {
  name: string;
  /** file offset of the first byte of the function (what a uprobe attach takes) */
  fileOffset: bigint;
  /** link-time virtual address (st_value) */
  vaddr: bigint;
  size: bigint;
  /** 'ifunc' (STT_GNU_IFUNC): the address is the resolver, not the implementation calls reach */
  type?: 'func' | 'ifunc';
  /** the table it came from */
  table?: 'dynsym' | 'symtab';
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERSYM = 0x6fffffff;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const SHN_LORESERVE = 0xff00;
const SYM64_SIZE = 24;

/** ELF files larger than this are not read for symbols (node's binary is ~100 MiB, libjvm ~20 MiB). */
const MAX_ELF_BYTES = 512 * 1024 * 1024;
/** A dynamic string table larger than this is not looked at cheaply (libc's is ~25 KiB, node's ~2 MiB). */
const MAX_DYNSTR_BYTES = 64 * 1024 * 1024;

/** Version names of a .gnu.version_d section, by version index. */
function readVerdefs(elf: ElfFile, sec: ElfSection): Map<number, string> {
  const names = new Map<number, string>();
  const strSec = elf.sections[sec.link];
  if (!strSec) return names;
  const strtab = elf.readClipped(strSec.offset, strSec.size, 'version definition names');
  const buf = elf.readClipped(sec.offset, sec.size, '.gnu.version_d');
  let o = 0;
  for (let guard = 0; guard < 65536 && o + 20 <= buf.length; guard++) {
    const ndx = buf.readUInt16LE(o + 4);
    const cnt = buf.readUInt16LE(o + 6);
    const aux = buf.readUInt32LE(o + 12);
    const next = buf.readUInt32LE(o + 16);
    if (cnt > 0 && o + aux + 8 <= buf.length) {
      const nameOff = buf.readUInt32LE(o + aux);
      if (nameOff < strtab.length) names.set(ndx, cstringAt(strtab, nameOff));
    }
    if (next === 0) break;
    o += next;
  }
  return names;
}

/** Lower rank wins when two symbols claim the same name. */
function rankOf(table: 'dynsym' | 'symtab', bind: number, hiddenVersion: boolean, size: bigint): number {
  let r = table === 'dynsym' ? 0 : 4;
  if (bind === STB_LOCAL) r += 8;
  if (hiddenVersion) r += 2;
  if (size === 0n) r += 1;
  return r;
}

/** The function symbols of an open ELF file, by name (see {@link readFunctionSymbols}). */
export function functionSymbolsOf(elf: ElfFile): Map<string, ElfSymbol> {
  const { path, sections } = elf;
  const out = new Map<string, ElfSymbol>();
  const ranks = new Map<string, number>();
  const put = (name: string, sym: ElfSymbol, rank: number): void => {
    const prev = ranks.get(name);
    if (prev !== undefined && prev <= rank) return;
    ranks.set(name, rank);
    out.set(name, sym);
  };
  const toFileOffset = (value: bigint, shndx: number): bigint | undefined => {
    const inSegment = elf.vaddrToFileOffset(value, true);
    if (inSegment !== undefined) return inSegment;
    const sec = shndx < SHN_LORESERVE ? sections[shndx] : undefined;
    if (sec && sec.addr !== 0n && value >= sec.addr && value < sec.addr + sec.size) return value - sec.addr + sec.offset;
    return undefined;
  };

  for (const sec of sections) {
    if (sec.type !== SHT_DYNSYM && sec.type !== SHT_SYMTAB) continue;
    const table = sec.type === SHT_DYNSYM ? 'dynsym' : 'symtab';
    const strSec = sections[sec.link];
    if (!strSec) throw new ElfError('EMALFORMED', path, `symbol table ${sec.index} has no string table`);
    const strtab = elf.sectionData(strSec, `string table of symbol table ${sec.index}`);
    const entsize = Number(sec.entsize || BigInt(SYM64_SIZE));
    if (entsize < SYM64_SIZE) throw new ElfError('EMALFORMED', path, `symbol table ${sec.index} has ${entsize}-byte entries`);
    const count = Math.floor(Number(sec.size) / entsize);
    const syms = elf.read(sec.offset, count * entsize, `symbol table ${sec.index}`);
    let versym: Buffer | undefined;
    let verdefs = new Map<number, string>();
    if (table === 'dynsym') {
      const vs = sections.find((s) => s.type === SHT_GNU_VERSYM && s.link === sec.index);
      if (vs) versym = elf.readClipped(vs.offset, BigInt(count * 2), '.gnu.version');
      const verdef = sections.find((s) => s.type === SHT_GNU_VERDEF);
      if (verdef) verdefs = readVerdefs(elf, verdef);
    }
    for (let i = 1; i < count; i++) {
      const o = i * entsize;
      const info = syms[o + 4];
      const stype = info & 0xf;
      const bind = info >> 4;
      if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
      const shndx = syms.readUInt16LE(o + 6);
      if (shndx === SHN_UNDEF) continue;
      const nameOff = syms.readUInt32LE(o);
      if (nameOff >= strtab.length) continue;
      const rawName = cstringAt(strtab, nameOff);
      if (!rawName) continue;
      const vaddr = syms.readBigUInt64LE(o + 8);
      const size = syms.readBigUInt64LE(o + 16);
      const fileOffset = toFileOffset(vaddr, shndx);
      if (fileOffset === undefined) continue;
      const type = stype === STT_GNU_IFUNC ? 'ifunc' : 'func';

      // Version from .gnu.version (dynsym) or from the name itself (symtab of some builds).
      let baseName = rawName;
      let version: string | undefined;
      let hidden = false;
      const at = rawName.indexOf('@');
      if (at > 0) {
        baseName = rawName.slice(0, at);
        hidden = !rawName.startsWith('@@', at);
        version = rawName.slice(at + (hidden ? 1 : 2));
      } else if (versym && i * 2 + 2 <= versym.length) {
        const v = versym.readUInt16LE(i * 2);
        const ndx = v & 0x7fff;
        if (ndx >= 2) {
          version = verdefs.get(ndx);
          hidden = (v & 0x8000) !== 0;
        }
      }
      const rank = rankOf(table, bind, hidden, size);
      const mk = (name: string): ElfSymbol => ({ name, fileOffset, vaddr, size, type, table });
      put(baseName, mk(baseName), rank);
      if (version) {
        const full = `${baseName}${hidden ? '@' : '@@'}${version}`;
        put(full, mk(full), rank);
      }
    }
  }
  return out;
}

const symbolCache = new Map<string, { key: string; map: Map<string, ElfSymbol> }>();

/**
 * Function symbols (STT_FUNC, STT_GNU_IFUNC) from .dynsym and .symtab of a 64-bit x86-64 ELF,
 * by name; versioned names (free@@GLIBC_2.2.5) also indexed by their base name.
 *
 * A name held by several symbols resolves to, in order: .dynsym before .symtab, global/weak
 * before local, the default version (@@) before hidden ones (@), a sized symbol before a
 * zero-sized one. Throws ElfError.
 */
export function readFunctionSymbols(path: string): ReadonlyMap<string, ElfSymbol> {
  return withElf(path, { maxBytes: MAX_ELF_BYTES }, (elf) => {
    const st = elf.stat;
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    const cached = symbolCache.get(path);
    // The cached map itself, read-only: a copy per call cost ~40 ms each on node's ~100k symbols,
    // and placing the TLS probes asks once per function and site.
    if (cached && cached.key === key) return cached.map;
    const out = functionSymbolsOf(elf);
    symbolCache.set(path, { key, map: out });
    return new Map(out);
  });
}

/** The function symbol `name` of the ELF file at `path`; ElfError ENOSYM when it has none. */
export function requireFunctionSymbol(path: string, name: string): ElfSymbol {
  const sym = readFunctionSymbols(path).get(name);
  if (!sym) throw new ElfError('ENOSYM', path, `no function symbol ${name}`);
  return sym;
}

/**
 * Whether the dynamic string table of a 64-bit little-endian ELF holds any of `names`: a cheap
 * first look (a few KiB read) before parsing the symbols, so that libc, libjvm and the rest of a
 * host's executables are never parsed in full. False for a file that is not ELF; undefined when
 * the file has no section headers to go by or the full reader must say what is wrong. Throws
 * ElfError EREAD/EREFUSED when the file cannot be opened (not a regular file: safe-file.ts).
 */
export function dynstrMentions(path: string, names: readonly string[]): boolean | undefined {
  return stringTableMentions(path, names, SHT_DYNSYM);
}

/**
 * The same look in the string table of .symtab: functions linked in statically and not exported (an
 * OpenSSL-API library such as BoringSSL inside Envoy). False also for a stripped file (no .symtab).
 */
export function symstrMentions(path: string, names: readonly string[]): boolean | undefined {
  return stringTableMentions(path, names, SHT_SYMTAB);
}

function stringTableMentions(path: string, names: readonly string[], type: number): boolean | undefined {
  let elf: ElfFile;
  try {
    elf = openElf(path);
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
    if (err.code === 'ENOTELF') return false;
    if (err.code === 'EREAD' || err.code === 'EREFUSED') throw err;
    return undefined; // not ELF64 LE x86-64, or a broken header: let the full reader say why
  }
  try {
    if (elf.sections.length === 0) return undefined;
    const symbols = elf.sections.find((s) => s.type === type);
    if (!symbols) return false; // no such table: it names nothing
    const strSec = elf.sections[symbols.link];
    if (!strSec || strSec.size > BigInt(MAX_DYNSTR_BYTES)) return undefined;
    const strtab = elf.readClipped(strSec.offset, strSec.size, type === SHT_DYNSYM ? 'dynamic string table' : 'symbol string table');
    return names.some((n) => strtab.includes(`\0${n}\0`, 0, 'latin1'));
  } catch (err) {
    if (err instanceof ElfError && err.code === 'EMALFORMED') return undefined;
    throw err;
  } finally {
    elf.close();
  }
}

/** A data symbol (STT_OBJECT) defined by an ELF file. */
export interface ElfObjectSymbol {
  name: string;
  /** link-time virtual address (st_value): add the load bias for the runtime address */
  vaddr: bigint;
  size: bigint;
  table: 'dynsym' | 'symtab';
  local: boolean;
}

const STT_OBJECT = 1;
/** Symbols looked at per table at most: libpython's .symtab holds ~10k, the largest C++ binaries a few million. */
const MAX_SEARCHED_SYMBOLS = 4 * 1024 * 1024;
/** A symbol string table larger than this is a corrupt header (node's .strtab is ~10 MiB). */
const MAX_SYMBOL_STRINGS = 64 * 1024 * 1024;
/** Symbols read per chunk: the table itself is never held whole. */
const SYMBOL_CHUNK = 4096;

/**
 * The data symbols (STT_OBJECT) named `names` that the open ELF file defines: .dynsym first, .symtab
 * only for what .dynsym lacks or holds only as a local. A global or weak definition wins over a local
 * one, .dynsym over .symtab. Names are compared as bytes, so no string is made per symbol of a large
 * table. Throws ElfError (EMALFORMED for a table or string table out of bounds).
 */
export function findObjectSymbols(elf: ElfFile, names: readonly string[]): Map<string, ElfObjectSymbol> {
  const out = new Map<string, ElfObjectSymbol>();
  const wanted = names.map((n) => Buffer.from(n, 'latin1'));
  const tables = [SHT_DYNSYM, SHT_SYMTAB].flatMap((t) => elf.sections.filter((s) => s.type === t));
  for (const sec of tables) {
    if (names.every((n) => out.get(n)?.local === false)) break;
    const table = sec.type === SHT_DYNSYM ? 'dynsym' : 'symtab';
    const strSec = elf.sections[sec.link];
    if (!strSec || strSec.type === SHT_NOBITS) throw new ElfError('EMALFORMED', elf.path, `symbol table ${sec.index} has no string table`);
    if (strSec.size > BigInt(MAX_SYMBOL_STRINGS)) throw new ElfError('EMALFORMED', elf.path, `malformed ELF: string table of symbol table ${sec.index} claims ${strSec.size} bytes`);
    const entsize = Number(sec.entsize || BigInt(SYM64_SIZE));
    if (entsize < SYM64_SIZE || entsize > 4 * SYM64_SIZE) throw new ElfError('EMALFORMED', elf.path, `symbol table ${sec.index} has ${entsize}-byte entries`);
    const count = Number(sec.size / BigInt(entsize));
    if (count > MAX_SEARCHED_SYMBOLS) throw new ElfError('EMALFORMED', elf.path, `malformed ELF: symbol table ${sec.index} claims ${count} symbols`);
    const strtab = elf.sectionData(strSec, `string table of symbol table ${sec.index}`);
    for (let first = 1; first < count; first += SYMBOL_CHUNK) {
      const n = Math.min(SYMBOL_CHUNK, count - first);
      const syms = elf.read(sec.offset + BigInt(first * entsize), n * entsize, `symbol table ${sec.index}`);
      for (let i = 0; i < n; i++) {
        const o = i * entsize;
        if ((syms[o + 4] & 0xf) !== STT_OBJECT || syms.readUInt16LE(o + 6) === SHN_UNDEF) continue;
        const nameOff = syms.readUInt32LE(o);
        const k = wanted.findIndex((w) => nameOff + w.length < strtab.length && strtab[nameOff + w.length] === 0 && strtab.compare(w, 0, w.length, nameOff, nameOff + w.length) === 0);
        if (k < 0) continue;
        const local = syms[o + 4] >> 4 === STB_LOCAL;
        const prev = out.get(names[k]);
        if (prev && (!prev.local || local)) continue;
        out.set(names[k], { name: names[k], vaddr: syms.readBigUInt64LE(o + 8), size: syms.readBigUInt64LE(o + 16), table, local });
      }
    }
  }
  return out;
}
