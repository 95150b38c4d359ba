/**
 * Where to put an entry uprobe so that the kernel does not have to single-step.
 *
 * On x86-64 a uprobe replaces the probed instruction with `int3`. After the BPF
 * program ran, the kernel must still execute the displaced instruction. A few
 * instructions it *emulates* in the trap handler (arch/x86/kernel/uprobes.c:
 * `branch_setup_xol_ops` for call/jmp/jcc rel and nops, `push_setup_xol_ops` for
 * `push reg`); every other one it copies to an out-of-line slot and
 * single-steps, which costs a second trap. On the VMs this project runs on that
 * second trap is the expensive part: ~16 µs per hit against ~0.8 µs.
 *
 * Many functions start with a single-stepped instruction (`test %rdi,%rdi`,
 * `sub $0x18,%rsp`) followed a few bytes later by an emulated one (a `je`, a
 * `push`) with the arguments still in their registers. A probe there sees the
 * same argument registers, fires once per call and costs 20× less.
 * `placeEntryProbe` finds that instruction with a small x86-64 decoder that
 * knows the shapes found in prologues, which registers each writes, and what
 * the kernel emulates; anything it does not know stops the walk and the probe
 * stays at the entry.
 *
 * What the kernel emulates was measured on this project's machines (kernel
 * 6.18.44, perf uprobe PMU, 20,000 hits each; see placement.spec.ts):
 *   emulated (~0.9–1.3 µs): `push %reg` (no prefix, or REX 0x41 only: r8–r15),
 *     `jmp`/`jcc`/`call` rel8/rel32 (also with `bnd` = f2), `nop` 0x90 with 66/f3
 *     prefixes (`xchg %ax,%ax`, `pause`), and `0f 1f /0` multi-byte NOPL/NOPW
 *     without REX.
 *   single-stepped (~12–16 µs): `endbr64`, `test`, `sub`, `mov` (also
 *     `mov %rax,%rax`), `lea 0x0(%rsi),%rsi`, `xor`, `ret`, `rex.W push`,
 *     `rex push`, `pushw`, `rex.W nopw`.
 *   refused (ENOTSUPP, the uprobe cannot be attached at all): instructions with
 *     a cs/ds/es/ss segment or lock prefix (`cs nopw`, `ds je`), and branches
 *     with an operand-size (66) prefix.
 * Kernels before 6.18 only treat opcode 0x90 as a nop (0f 1f NOPL is
 * single-stepped there): see `PlacementOptions.emulatesNopl`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { FileRefused, readRegularFile, withRegularFile } from '../safe-file';

// ---------------------------------------------------------------------------
// ELF function symbols
// ---------------------------------------------------------------------------

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

export type PlacementErrorCode = 'ENOTELF' | 'EUNSUPPORTED' | 'EMALFORMED' | 'ENOSYM' | 'EREAD';

export class PlacementError extends Error {
  constructor(
    readonly code: PlacementErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'PlacementError';
  }
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERSYM = 0x6fffffff;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const PT_LOAD = 1;

interface Section {
  type: number;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  entsize: bigint;
}

interface Segment {
  vaddr: bigint;
  offset: bigint;
  filesz: bigint;
}

/** ELF files larger than this are not read whole (node's binary is ~100 MiB, libjvm ~20 MiB). */
const MAX_ELF_BYTES = 512 * 1024 * 1024;

/** Paths come from jobs and traced processes' maps: regular files only, bounded (safe-file.ts). */
function readWhole(path: string): Buffer {
  try {
    return readRegularFile(path, MAX_ELF_BYTES);
  } catch (err) {
    throw new PlacementError('EREAD', path, err instanceof FileRefused ? err.reason : (err as Error).message);
  }
}

function parseHeaders(path: string, buf: Buffer): { sections: Section[]; segments: Segment[] } {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new PlacementError('ENOTELF', path, 'not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new PlacementError('EUNSUPPORTED', path, 'only 64-bit little-endian ELF is supported');
  const type = buf.readUInt16LE(16);
  const machine = buf.readUInt16LE(18);
  if (machine !== 62) throw new PlacementError('EUNSUPPORTED', path, `machine ${machine} is not x86-64`);
  if (type !== 2 && type !== 3) throw new PlacementError('EUNSUPPORTED', path, `ELF type ${type} is not EXEC or DYN`);
  const phoff = Number(buf.readBigUInt64LE(32));
  const shoff = Number(buf.readBigUInt64LE(40));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const shentsize = buf.readUInt16LE(58);
  let shnum = buf.readUInt16LE(60);
  if (shoff !== 0 && shnum === 0 && shoff + 64 <= buf.length) shnum = Number(buf.readBigUInt64LE(shoff + 32));
  if (phoff + phnum * phentsize > buf.length || shoff + shnum * shentsize > buf.length) {
    throw new PlacementError('EMALFORMED', path, 'header tables run past the end of the file');
  }
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (buf.readUInt32LE(o) !== PT_LOAD) continue;
    segments.push({ offset: buf.readBigUInt64LE(o + 8), vaddr: buf.readBigUInt64LE(o + 16), filesz: buf.readBigUInt64LE(o + 32) });
  }
  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      addr: buf.readBigUInt64LE(o + 16),
      offset: buf.readBigUInt64LE(o + 24),
      size: buf.readBigUInt64LE(o + 32),
      link: buf.readUInt32LE(o + 40),
      entsize: buf.readBigUInt64LE(o + 56),
    });
  }
  return { sections, segments };
}

function cstring(buf: Buffer, start: number, end: number): string {
  let e = start;
  while (e < end && buf[e] !== 0) e++;
  return buf.toString('utf8', start, e);
}

/** Version names of a .gnu.version_d section, by version index. */
function readVerdefs(buf: Buffer, sections: Section[], sec: Section): Map<number, string> {
  const names = new Map<number, string>();
  const strtab = sections[sec.link];
  if (!strtab) return names;
  const strStart = Number(strtab.offset);
  const strEnd = strStart + Number(strtab.size);
  let o = Number(sec.offset);
  const end = o + Number(sec.size);
  for (let guard = 0; guard < 65536 && o + 20 <= end; guard++) {
    const ndx = buf.readUInt16LE(o + 4);
    const cnt = buf.readUInt16LE(o + 6);
    const aux = buf.readUInt32LE(o + 12);
    const next = buf.readUInt32LE(o + 16);
    if (cnt > 0 && o + aux + 8 <= end) {
      const nameOff = buf.readUInt32LE(o + aux);
      if (strStart + nameOff < strEnd) names.set(ndx, cstring(buf, strStart + nameOff, strEnd));
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

const symbolCache = new Map<string, { key: string; map: Map<string, ElfSymbol> }>();

/**
 * Function symbols (STT_FUNC, STT_GNU_IFUNC) from .dynsym and .symtab of a 64-bit x86-64 ELF,
 * by name; versioned names (free@@GLIBC_2.2.5) also indexed by their base name.
 *
 * A name held by several symbols resolves to, in order: .dynsym before .symtab, global/weak
 * before local, the default version (@@) before hidden ones (@), a sized symbol before a
 * zero-sized one.
 */
export function readFunctionSymbols(path: string): ReadonlyMap<string, ElfSymbol> {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw new PlacementError('EREAD', path, (err as Error).message);
  }
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const cached = symbolCache.get(path);
  // The cached map itself, read-only: a copy per call cost ~40 ms each on node's ~100k symbols,
  // and placing the TLS probes asks once per function and site.
  if (cached && cached.key === key) return cached.map;

  const buf = readWhole(path);
  const { sections, segments } = parseHeaders(path, buf);
  const out = new Map<string, ElfSymbol>();
  const ranks = new Map<string, number>();
  const put = (name: string, sym: ElfSymbol, rank: number): void => {
    const prev = ranks.get(name);
    if (prev !== undefined && prev <= rank) return;
    ranks.set(name, rank);
    out.set(name, sym);
  };
  const toFileOffset = (value: bigint, shndx: number): bigint | undefined => {
    for (const s of segments) {
      if (value >= s.vaddr && value < s.vaddr + s.filesz) return value - s.vaddr + s.offset;
    }
    const sec = shndx < SHN_LORESERVE ? sections[shndx] : undefined;
    if (sec && sec.addr !== 0n && value >= sec.addr && value < sec.addr + sec.size) return value - sec.addr + sec.offset;
    return undefined;
  };

  for (const [idx, sec] of sections.entries()) {
    if (sec.type !== SHT_DYNSYM && sec.type !== SHT_SYMTAB) continue;
    const table = sec.type === SHT_DYNSYM ? 'dynsym' : 'symtab';
    const strtab = sections[sec.link];
    if (!strtab) throw new PlacementError('EMALFORMED', path, `symbol table ${idx} has no string table`);
    const strStart = Number(strtab.offset);
    const strEnd = strStart + Number(strtab.size);
    if (strEnd > buf.length) throw new PlacementError('EMALFORMED', path, 'string table runs past the end of the file');
    let versym: Section | undefined;
    let verdefs = new Map<number, string>();
    if (table === 'dynsym') {
      versym = sections.find((s) => s.type === SHT_GNU_VERSYM && s.link === idx);
      const verdef = sections.find((s) => s.type === SHT_GNU_VERDEF);
      if (verdef) verdefs = readVerdefs(buf, sections, verdef);
    }
    const entsize = Number(sec.entsize || 24n);
    const count = Math.floor(Number(sec.size) / entsize);
    const base = Number(sec.offset);
    if (base + count * entsize > buf.length) throw new PlacementError('EMALFORMED', path, 'symbol table runs past the end of the file');
    for (let i = 1; i < count; i++) {
      const o = base + i * entsize;
      const info = buf[o + 4];
      const stype = info & 0xf;
      const bind = info >> 4;
      if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
      const shndx = buf.readUInt16LE(o + 6);
      if (shndx === SHN_UNDEF) continue;
      const nameOff = buf.readUInt32LE(o);
      if (strStart + nameOff >= strEnd) continue;
      const rawName = cstring(buf, strStart + nameOff, strEnd);
      if (!rawName) continue;
      const vaddr = buf.readBigUInt64LE(o + 8);
      const size = buf.readBigUInt64LE(o + 16);
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
      } else if (versym && Number(versym.offset) + i * 2 + 2 <= buf.length) {
        const v = buf.readUInt16LE(Number(versym.offset) + i * 2);
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
  symbolCache.set(path, { key, map: out });
  return new Map(out);
}

// ---------------------------------------------------------------------------
// x86-64 decoder (the shapes found in function prologues, and in the bodies return-site.ts walks)
// ---------------------------------------------------------------------------

export const GPRS = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type Gpr = (typeof GPRS)[number];

const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const R8REX = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const R8LEGACY = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT: (string | undefined)[] = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', undefined, 'sar'];

type Size = 8 | 16 | 32 | 64;

function regName(n: number, size: Size, rex: boolean): string {
  if (size === 64) return GPRS[n];
  if (n >= 8) return `r${n}${size === 32 ? 'd' : size === 16 ? 'w' : 'b'}`;
  if (size === 32) return R32[n];
  if (size === 16) return R16[n];
  return rex ? R8REX[n] : R8LEGACY[n];
}

/** The 64-bit register a (possibly partial) register operand belongs to. */
function regFamily(n: number, size: Size, rex: boolean): Gpr {
  if (size === 8 && !rex && n >= 4 && n < 8) return GPRS[n - 4]; // ah, ch, dh, bh
  return GPRS[n];
}

export type InstructionKind =
  | 'other'
  | 'nop'
  | 'push'
  | 'pop'
  | 'jcc'
  | 'jmp'
  | 'call'
  | 'ret'
  | 'indirect'
  | 'syscall'
  | 'trap';

export interface Instruction {
  /** bytes from the start of the decoded buffer (the function entry) */
  offset: number;
  length: number;
  /** hex bytes, space separated */
  bytes: string;
  mnemonic: string;
  /** AT&T syntax as objdump prints it; rel branches show the function-relative target, e.g. `je <+200>` */
  text: string;
  /** for rel branches the encoding form, e.g. `je rel8`, `call rel32` */
  form?: string;
  kind: InstructionKind;
  /** general-purpose registers written, in whole or in part */
  writes: Gpr[];
  writesMemory: boolean;
  /** the kernel emulates this instruction when probed (no single-step) */
  emulated: boolean;
  /** the kernel accepts a uprobe on this instruction at all */
  probeable: boolean;
  /** rel branches: target as bytes from the start of the buffer */
  target?: number;
}

export type DecodeResult = { ok: true; insn: Instruction } | { ok: false; offset: number; reason: string };

export interface DecodeOptions {
  /** whether the kernel emulates `0f 1f /0` (NOPL): true from 6.18 (measured), false before */
  emulatesNopl?: boolean;
}

class Unknown extends Error {}

/** a function-relative offset as `+200` / `-560` */
function relText(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`;
}

function hex(n: bigint | number): string {
  const v = BigInt(n);
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function immText(value: bigint, size: Size): string {
  const bits = BigInt(size);
  return `$0x${BigInt.asUintN(Number(bits), value).toString(16)}`;
}

interface ModRM {
  mod: number;
  /** reg field with REX.R */
  reg: number;
  /** rm register with REX.B (when mod == 3) */
  rm: number;
  isReg: boolean;
  memText: string;
}

/**
 * Decode one instruction at `offset` of `code`. Returns `{ ok: false }` with a reason for anything
 * outside the supported subset (never guesses a length).
 */
export function decodeInstruction(code: Uint8Array, offset: number, options: DecodeOptions = {}): DecodeResult {
  const emulatesNopl = options.emulatesNopl ?? kernelEmulatesNopl();
  let p = offset;
  const byte = (): number => {
    if (p >= code.length) throw new Unknown('instruction runs past the end of the available bytes');
    return code[p++];
  };
  const s8 = (): bigint => BigInt((byte() << 24) >> 24);
  const s16 = (): bigint => {
    const v = byte() | (byte() << 8);
    return BigInt((v << 16) >> 16);
  };
  const s32 = (): bigint => BigInt(byte() | (byte() << 8) | (byte() << 16) | (byte() << 24));
  const u64 = (): bigint => {
    let v = 0n;
    for (let i = 0; i < 8; i++) v |= BigInt(byte()) << BigInt(8 * i);
    return v;
  };

  const run = (): Instruction => {
    // Legacy prefixes.
    const prefixes: number[] = [];
    for (;;) {
      if (p >= code.length) throw new Unknown('instruction runs past the end of the available bytes');
      const b = code[p];
      if (b === 0x66 || b === 0x67 || b === 0xf2 || b === 0xf3 || b === 0x64 || b === 0x65) {
        prefixes.push(b);
        p++;
        continue;
      }
      if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0xf0) {
        throw new Unknown(
          `prefix 0x${b.toString(16)} (${b === 0xf0 ? 'lock' : 'segment override / branch hint'}): ` +
            'the kernel refuses uprobes on such instructions and this decoder does not model them',
        );
      }
      break;
    }
    if (prefixes.includes(0x67)) throw new Unknown('address-size prefix (0x67) is not supported');
    const n66 = prefixes.filter((b) => b === 0x66).length;
    const has66 = n66 > 0;
    const hasF2 = prefixes.includes(0xf2);
    const hasF3 = prefixes.includes(0xf3);
    const seg = prefixes.includes(0x64) ? '%fs:' : prefixes.includes(0x65) ? '%gs:' : '';
    const onlyPrefixes = (...allowed: number[]): boolean => prefixes.every((b) => allowed.includes(b));

    let rex = 0;
    if ((code[p] & 0xf0) === 0x40) rex = byte();
    const hasRex = rex !== 0;
    const W = (rex & 8) !== 0;
    const R = (rex & 4) !== 0 ? 8 : 0;
    const X = (rex & 2) !== 0 ? 8 : 0;
    const B = (rex & 1) !== 0 ? 8 : 0;
    const opsize: Size = W ? 64 : has66 ? 16 : 32;
    const op = byte();

    const modrm = (): ModRM => {
      const m = byte();
      const mod = m >> 6;
      const reg = ((m >> 3) & 7) + R;
      const rmLow = m & 7;
      if (mod === 3) return { mod, reg, rm: rmLow + B, isReg: true, memText: '' };
      let base: number | undefined;
      let index: number | undefined;
      let scale = 1;
      let disp: bigint | undefined;
      let rip = false;
      if (rmLow === 4) {
        const sib = byte();
        scale = 1 << (sib >> 6);
        const idx = ((sib >> 3) & 7) + X;
        const bs = sib & 7;
        if (idx !== 4) index = idx;
        else if (sib >> 6 !== 0) throw new Unknown('SIB with %riz index and a scale');
        if (bs === 5 && mod === 0) disp = s32();
        else base = bs + B;
      } else if (rmLow === 5 && mod === 0) {
        rip = true;
        disp = s32();
      } else {
        base = rmLow + B;
      }
      if (mod === 1) disp = s8();
      else if (mod === 2) disp = s32();
      let text: string;
      if (rip) text = `${hex(disp!)}(%rip)`;
      else if (base === undefined && index === undefined) text = `0x${BigInt.asUintN(64, disp!).toString(16)}`;
      else {
        const inner = `${base !== undefined ? `%${GPRS[base]}` : ''}${index !== undefined ? `,%${GPRS[index]},${scale}` : ''}`;
        text = `${disp !== undefined ? hex(disp) : ''}(${inner})`;
      }
      return { mod, reg, rm: -1, isReg: false, memText: seg + text };
    };

    const insn = (fields: Partial<Instruction> & { mnemonic: string; text: string }): Instruction => ({
      offset,
      length: p - offset,
      bytes: Array.from(code.subarray(offset, p), (b) => b.toString(16).padStart(2, '0')).join(' '),
      kind: 'other',
      writes: [],
      writesMemory: false,
      emulated: false,
      probeable: true,
      ...fields,
    });
    /** r/m operand text and what writing it means */
    const rmOperand = (m: ModRM, size: Size): { text: string; reg?: Gpr } =>
      m.isReg ? { text: `%${regName(m.rm, size, hasRex)}`, reg: regFamily(m.rm, size, hasRex) } : { text: m.memText };
    const sfx = (size: Size): string => (size === 8 ? 'b' : size === 16 ? 'w' : size === 32 ? 'l' : 'q');
    const writeTo = (o: { reg?: Gpr }): Partial<Instruction> => (o.reg ? { writes: [o.reg] } : { writesMemory: true });
    const noSeg = (): void => {
      if (seg) throw new Unknown('segment prefix on an instruction without a memory operand');
    };
    const plainPrefixes = (what: string): void => {
      if (!onlyPrefixes(0x66, 0x64, 0x65) || n66 > 1) throw new Unknown(`${what} with rep/repne or repeated prefixes`);
    };

    // Relative branches: the kernel emulates them (refuses them with a 66 prefix).
    const branch = (mnemonic: string, kind: 'jcc' | 'jmp' | 'call', rel: bigint, width: 8 | 32): Instruction => {
      if (hasRex || !onlyPrefixes(0x66, 0xf2)) throw new Unknown(`${mnemonic} with unexpected prefixes`);
      const bnd = hasF2 ? 'bnd ' : '';
      const target = p + Number(rel);
      return insn({
        mnemonic,
        kind,
        text: `${has66 ? 'data16 ' : ''}${bnd}${mnemonic} <${relText(target)}>`,
        form: `${bnd}${mnemonic} rel${width}`,
        target,
        emulated: !has66,
        probeable: !has66,
        writes: kind === 'call' ? ['rsp'] : [],
        writesMemory: kind === 'call',
      });
    };

    // --- one-byte opcodes ---------------------------------------------------
    if (op < 0x40 && (op & 7) < 6) {
      plainPrefixes('ALU op');
      const name = ALU[op >> 3];
      const form = op & 7;
      const writes = name !== 'cmp';
      if (form <= 3) {
        const size: Size = form & 1 ? opsize : 8;
        const m = modrm();
        const g = `%${regName(m.reg, size, hasRex)}`;
        const e = rmOperand(m, size);
        if (form <= 1) {
          // E, G: AT&T `op %G, E`, writes E
          return insn({ mnemonic: name, text: `${name} ${g},${e.text}`, ...(writes ? writeTo(e) : {}) });
        }
        // G, E: AT&T `op E, %G`, writes G
        return insn({ mnemonic: name, text: `${name} ${e.text},${g}`, writes: writes ? [regFamily(m.reg, size, hasRex)] : [] });
      }
      noSeg();
      const size: Size = form === 4 ? 8 : opsize;
      const imm = size === 8 ? s8() : size === 16 ? s16() : s32();
      return insn({
        mnemonic: name,
        text: `${name} ${immText(imm, size)},%${regName(0, size, hasRex)}`,
        writes: writes ? ['rax'] : [],
      });
    }

    if (op >= 0x50 && op <= 0x5f) {
      if (prefixes.length || (rex !== 0 && rex !== 0x41)) throw new Unknown('push/pop with prefixes or REX other than 0x41');
      const n = (op & 7) + B;
      if (op < 0x58) {
        // push_setup_xol_ops: 50-57 alone or with REX 0x41 only
        return insn({ mnemonic: 'push', kind: 'push', text: `push %${GPRS[n]}`, writes: ['rsp'], writesMemory: true, emulated: true });
      }
      return insn({ mnemonic: 'pop', kind: 'pop', text: `pop %${GPRS[n]}`, writes: [GPRS[n], 'rsp'] });
    }

    if (op === 0x63) {
      plainPrefixes('movsxd');
      if (!W || has66) throw new Unknown('movsxd without REX.W');
      const m = modrm();
      const e = m.isReg ? `%${regName(m.rm, 32, hasRex)}` : m.memText;
      return insn({ mnemonic: 'movslq', text: `movslq ${e},%${regName(m.reg, 64, hasRex)}`, writes: [GPRS[m.reg]] });
    }

    if (op === 0x68 || op === 0x6a) {
      if (prefixes.length || hasRex) throw new Unknown('push imm with prefixes');
      const imm = op === 0x6a ? s8() : s32();
      return insn({ mnemonic: 'push', kind: 'other', text: `push ${immText(imm, 64)}`, writes: ['rsp'], writesMemory: true });
    }

    if (op === 0x69 || op === 0x6b) {
      plainPrefixes('imul');
      const m = modrm();
      const e = rmOperand(m, opsize);
      const imm = op === 0x6b ? s8() : opsize === 16 ? s16() : s32();
      return insn({
        mnemonic: 'imul',
        text: `imul ${immText(imm, opsize)},${e.text},%${regName(m.reg, opsize, hasRex)}`,
        writes: [regFamily(m.reg, opsize, hasRex)],
      });
    }

    if (op >= 0x70 && op <= 0x7f) return branch(`j${CC[op - 0x70]}`, 'jcc', s8(), 8);

    if (op >= 0x80 && op <= 0x83 && op !== 0x82) {
      plainPrefixes('group 1');
      const size: Size = op === 0x80 ? 8 : opsize;
      const m = modrm();
      const e = rmOperand(m, size);
      const imm = op === 0x81 ? (size === 16 ? s16() : s32()) : s8();
      const name = ALU[m.reg & 7];
      const mn = m.isReg ? name : name + sfx(size);
      return insn({ mnemonic: mn, text: `${mn} ${immText(imm, size)},${e.text}`, ...(name !== 'cmp' ? writeTo(e) : {}) });
    }

    if (op === 0x84 || op === 0x85) {
      plainPrefixes('test');
      const size: Size = op === 0x84 ? 8 : opsize;
      const m = modrm();
      return insn({ mnemonic: 'test', text: `test %${regName(m.reg, size, hasRex)},${rmOperand(m, size).text}` });
    }

    if (op >= 0x88 && op <= 0x8b) {
      plainPrefixes('mov');
      const size: Size = op & 1 ? opsize : 8;
      const m = modrm();
      const g = `%${regName(m.reg, size, hasRex)}`;
      const e = rmOperand(m, size);
      if (op <= 0x89) return insn({ mnemonic: 'mov', text: `mov ${g},${e.text}`, ...writeTo(e) });
      return insn({ mnemonic: 'mov', text: `mov ${e.text},${g}`, writes: [regFamily(m.reg, size, hasRex)] });
    }

    if (op === 0x8d) {
      plainPrefixes('lea');
      const m = modrm();
      if (m.isReg) throw new Unknown('lea with a register operand');
      return insn({
        mnemonic: 'lea',
        text: `lea ${m.memText},%${regName(m.reg, opsize, hasRex)}`,
        writes: [regFamily(m.reg, opsize, hasRex)],
      });
    }

    if (op === 0x90) {
      if (hasRex) throw new Unknown('0x90 with REX (REX.B makes it xchg with r8)');
      noSeg();
      if (hasF3 && prefixes.length === 1) return insn({ mnemonic: 'pause', kind: 'nop', text: 'pause', emulated: true });
      if (!onlyPrefixes(0x66)) throw new Unknown('nop with unexpected prefixes');
      if (n66 === 0) return insn({ mnemonic: 'nop', kind: 'nop', text: 'nop', emulated: true });
      return insn({ mnemonic: 'xchg', kind: 'nop', text: `${'data16 '.repeat(n66 - 1)}xchg %ax,%ax`, emulated: true });
    }

    if (op === 0x98 || op === 0x99) {
      if (prefixes.length) throw new Unknown('cwtl/cltd with prefixes');
      const names = op === 0x98 ? { 32: 'cwtl', 64: 'cltq' } : { 32: 'cltd', 64: 'cqto' };
      const mn = names[W ? 64 : 32];
      return insn({ mnemonic: mn, text: mn, writes: [op === 0x98 ? 'rax' : 'rdx'] });
    }

    if (op === 0xa8 || op === 0xa9) {
      plainPrefixes('test');
      noSeg();
      const size: Size = op === 0xa8 ? 8 : opsize;
      const imm = size === 8 ? s8() : size === 16 ? s16() : s32();
      return insn({ mnemonic: 'test', text: `test ${immText(imm, size)},%${regName(0, size, hasRex)}` });
    }

    if (op >= 0xb0 && op <= 0xbf) {
      plainPrefixes('mov imm');
      noSeg();
      const n = (op & 7) + B;
      if (op < 0xb8) {
        return insn({ mnemonic: 'mov', text: `mov ${immText(s8(), 8)},%${regName(n, 8, hasRex)}`, writes: [regFamily(n, 8, hasRex)] });
      }
      if (W) return insn({ mnemonic: 'movabs', text: `movabs ${immText(u64(), 64)},%${GPRS[n]}`, writes: [GPRS[n]] });
      const imm = opsize === 16 ? s16() : s32();
      return insn({ mnemonic: 'mov', text: `mov ${immText(imm, opsize)},%${regName(n, opsize, hasRex)}`, writes: [GPRS[n]] });
    }

    if (op === 0xc0 || op === 0xc1 || (op >= 0xd0 && op <= 0xd3)) {
      plainPrefixes('shift');
      const size: Size = op & 1 ? opsize : 8;
      const m = modrm();
      const name = SHIFT[m.reg & 7];
      if (!name) throw new Unknown('shift group /6');
      const e = rmOperand(m, size);
      const mn = m.isReg ? name : name + sfx(size);
      let src = '';
      if (op <= 0xc1) src = `${immText(s8(), 8)},`;
      else if (op >= 0xd2) src = '%cl,';
      return insn({ mnemonic: mn, text: `${mn} ${src}${e.text}`, ...writeTo(e) });
    }

    if (op === 0xc2 || op === 0xc3) {
      if (hasRex) throw new Unknown('ret with REX');
      let pre = '';
      if (prefixes.length === 1 && hasF3) pre = 'repz ';
      else if (prefixes.length === 1 && hasF2) pre = 'bnd ';
      else if (prefixes.length) throw new Unknown('ret with unexpected prefixes');
      const text = op === 0xc2 ? `${pre}ret $0x${(Number(s16()) & 0xffff).toString(16)}` : `${pre}ret`;
      return insn({ mnemonic: 'ret', kind: 'ret', text, writes: ['rsp'] });
    }

    if (op === 0xc6 || op === 0xc7) {
      plainPrefixes('mov imm');
      const size: Size = op === 0xc6 ? 8 : opsize;
      const m = modrm();
      if ((m.reg & 7) !== 0) throw new Unknown(`0x${op.toString(16)} /${m.reg & 7} (not mov)`);
      const e = rmOperand(m, size);
      const imm = size === 8 ? s8() : size === 16 ? s16() : s32();
      const mn = m.isReg ? 'mov' : `mov${sfx(size)}`;
      return insn({ mnemonic: mn, text: `${mn} ${immText(imm, size)},${e.text}`, ...writeTo(e) });
    }

    if (op === 0xc9) {
      if (prefixes.length || hasRex) throw new Unknown('leave with prefixes');
      return insn({ mnemonic: 'leave', text: 'leave', writes: ['rsp', 'rbp'] });
    }

    if (op === 0xcc) {
      if (prefixes.length || hasRex) throw new Unknown('int3 with prefixes');
      return insn({ mnemonic: 'int3', kind: 'trap', text: 'int3', probeable: false });
    }

    if (op === 0xe8) return branch('call', 'call', s32(), 32);
    if (op === 0xe9) return branch('jmp', 'jmp', s32(), 32);
    if (op === 0xeb) return branch('jmp', 'jmp', s8(), 8);

    if (op === 0xf6 || op === 0xf7) {
      plainPrefixes('group 3');
      const size: Size = op === 0xf6 ? 8 : opsize;
      const m = modrm();
      const sub = m.reg & 7;
      const e = rmOperand(m, size);
      const names = ['test', undefined, 'not', 'neg', 'mul', 'imul', 'div', 'idiv'];
      const name = names[sub];
      if (!name) throw new Unknown('group 3 /1');
      const mn = m.isReg ? name : name + sfx(size);
      if (sub === 0) {
        const imm = size === 8 ? s8() : size === 16 ? s16() : s32();
        return insn({ mnemonic: mn, text: `${mn} ${immText(imm, size)},${e.text}` });
      }
      if (sub <= 3) return insn({ mnemonic: mn, text: `${mn} ${e.text}`, ...writeTo(e) });
      return insn({ mnemonic: mn, text: `${mn} ${e.text}`, writes: size === 8 ? ['rax'] : ['rax', 'rdx'] });
    }

    if (op === 0xfe || op === 0xff) {
      plainPrefixes('group 4/5');
      const size: Size = op === 0xfe ? 8 : opsize;
      const m = modrm();
      const sub = m.reg & 7;
      if (sub <= 1) {
        const e = rmOperand(m, size);
        const name = sub === 0 ? 'inc' : 'dec';
        const mn = m.isReg ? name : name + sfx(size);
        return insn({ mnemonic: mn, text: `${mn} ${e.text}`, ...writeTo(e) });
      }
      if (op === 0xfe) throw new Unknown(`0xfe /${sub}`);
      const target = m.isReg ? `%${GPRS[m.rm]}` : m.memText;
      if (sub === 2) return insn({ mnemonic: 'call', kind: 'indirect', text: `call *${target}`, writes: ['rsp'], writesMemory: true });
      if (sub === 4) return insn({ mnemonic: 'jmp', kind: 'indirect', text: `jmp *${target}` });
      if (sub === 6) {
        if (has66 || m.isReg) throw new Unknown('push r/m form');
        return insn({ mnemonic: 'push', kind: 'other', text: `push ${target}`, writes: ['rsp'], writesMemory: true });
      }
      throw new Unknown(`0xff /${sub} (far call/jmp)`);
    }

    // --- two-byte opcodes (0f xx) -------------------------------------------
    if (op === 0x0f) {
      const op2 = byte();
      if (op2 >= 0x80 && op2 <= 0x8f) return branch(`j${CC[op2 - 0x80]}`, 'jcc', s32(), 32);

      if (op2 === 0x05 || op2 === 0x0b) {
        if (prefixes.length || hasRex) throw new Unknown('syscall/ud2 with prefixes');
        return op2 === 0x05
          ? insn({ mnemonic: 'syscall', kind: 'syscall', text: 'syscall', writes: ['rax', 'rcx', 'r11'] })
          : insn({ mnemonic: 'ud2', kind: 'trap', text: 'ud2' });
      }

      if (op2 === 0x1e) {
        // only endbr64 (f3 0f 1e fa); other f3 0f 1e forms (rdssp) write registers
        if (prefixes.length === 1 && hasF3 && !hasRex && code[p] === 0xfa) {
          p++;
          return insn({ mnemonic: 'endbr64', kind: 'nop', text: 'endbr64' });
        }
        throw new Unknown('0f 1e other than endbr64');
      }

      if (op2 === 0x1f) {
        if (hasRex || !onlyPrefixes(0x66)) throw new Unknown('0f 1f nop with REX or unexpected prefixes');
        const m = modrm();
        if ((m.reg & 7) !== 0 || m.isReg) throw new Unknown('0f 1f other than nopl/nopw with a memory operand');
        const mn = n66 === 0 ? 'nopl' : 'nopw';
        return insn({ mnemonic: mn, kind: 'nop', text: `${'data16 '.repeat(Math.max(0, n66 - 1))}${mn} ${m.memText}`, emulated: emulatesNopl });
      }

      if (op2 >= 0x40 && op2 <= 0x4f) {
        plainPrefixes('cmov');
        const m = modrm();
        const mn = `cmov${CC[op2 - 0x40]}`;
        return insn({
          mnemonic: mn,
          text: `${mn} ${rmOperand(m, opsize).text},%${regName(m.reg, opsize, hasRex)}`,
          writes: [regFamily(m.reg, opsize, hasRex)],
        });
      }

      // The few SSE moves compilers put in ordinary integer code (building a struct on the stack:
      // movq %r14,%xmm1; punpcklqdq; movaps %xmm0,-0x50(%rbp)). None writes a general register.
      if (op2 === 0x6e || op2 === 0x6c || op2 === 0x28 || op2 === 0x29) {
        const needs66 = op2 === 0x6e || op2 === 0x6c;
        if (prefixes.some((b) => b !== 0x66 && b !== 0x64 && b !== 0x65) || n66 !== (needs66 ? 1 : 0)) {
          throw new Unknown(`0f ${op2.toString(16)} with prefixes other than the SSE form this decoder knows`);
        }
        if (W && op2 !== 0x6e) throw new Unknown(`0f ${op2.toString(16)} with REX.W`);
        const m = modrm();
        if (m.isReg && seg) throw new Unknown('segment prefix on an instruction without a memory operand');
        const xmm = `%xmm${m.reg}`;
        if (op2 === 0x6e) {
          // movd/movq r/m32/64 -> xmm
          const mn = W ? 'movq' : 'movd';
          return insn({ mnemonic: mn, text: `${mn} ${rmOperand(m, W ? 64 : 32).text},${xmm}` });
        }
        const other = m.isReg ? `%xmm${m.rm}` : m.memText;
        if (op2 === 0x6c) return insn({ mnemonic: 'punpcklqdq', text: `punpcklqdq ${other},${xmm}` });
        if (op2 === 0x28) return insn({ mnemonic: 'movaps', text: `movaps ${other},${xmm}` });
        return insn({ mnemonic: 'movaps', text: `movaps ${xmm},${other}`, writesMemory: !m.isReg });
      }

      if (op2 >= 0x90 && op2 <= 0x9f) {
        plainPrefixes('setcc');
        const m = modrm();
        const mn = `set${CC[op2 - 0x90]}`;
        const e = rmOperand(m, 8);
        return insn({ mnemonic: mn, text: `${mn} ${e.text}`, ...writeTo(e) });
      }

      if (op2 === 0xaf) {
        plainPrefixes('imul');
        const m = modrm();
        return insn({
          mnemonic: 'imul',
          text: `imul ${rmOperand(m, opsize).text},%${regName(m.reg, opsize, hasRex)}`,
          writes: [regFamily(m.reg, opsize, hasRex)],
        });
      }

      if (op2 === 0xb6 || op2 === 0xb7 || op2 === 0xbe || op2 === 0xbf) {
        plainPrefixes('movzx/movsx');
        const m = modrm();
        const srcSize: Size = op2 & 1 ? 16 : 8;
        const mn = `mov${op2 < 0xb8 ? 'z' : 's'}${sfx(srcSize)}${sfx(opsize)}`;
        return insn({
          mnemonic: mn,
          text: `${mn} ${rmOperand(m, srcSize).text},%${regName(m.reg, opsize, hasRex)}`,
          writes: [regFamily(m.reg, opsize, hasRex)],
        });
      }

      throw new Unknown(`opcode 0f ${op2.toString(16).padStart(2, '0')} is not in the supported subset`);
    }

    throw new Unknown(`opcode ${op.toString(16).padStart(2, '0')} is not in the supported subset`);
  };
  try {
    return { ok: true, insn: run() };
  } catch (err) {
    if (err instanceof Unknown) {
      const shown = Array.from(code.subarray(offset, Math.min(code.length, offset + 8)), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return { ok: false, offset, reason: `${err.message} (bytes ${shown})` };
    }
    throw err;
  }
}

/** 0f 1f NOPL is emulated by the kernel from 6.18 on (measured on 6.18.44; older sources emulate only 0x90). */
export function kernelEmulatesNopl(release: string = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 18);
}

// ---------------------------------------------------------------------------
// Placement
// ---------------------------------------------------------------------------

export interface Placement {
  symbol: string;
  path: string;
  /** file offset to attach the uprobe at */
  fileOffset: bigint;
  /** bytes past the function entry (0 = entry) */
  delta: number;
  /** the instruction at the chosen site, e.g. "je rel8", "push %rbp" */
  instruction: string;
  emulated: boolean;
  /** why this site */
  reason: string;
  /** the instructions decoded from the entry up to and including the site (or where the walk stopped) */
  walked?: Instruction[];
}

export interface PlacementOptions extends DecodeOptions {
  /** instructions to look at, the site included (default 8) */
  maxInstructions?: number;
}

export interface SitePlan {
  delta: number;
  instruction: string;
  emulated: boolean;
  reason: string;
  walked: Instruction[];
}

/** `rdi`, `%rdi`, `edi`, `di`, `dil`, `r8d`, `sp` ... → the 64-bit register they are part of. */
export function canonicalRegister(name: string): Gpr {
  const n = name.trim().replace(/^%/, '').toLowerCase();
  for (let i = 0; i < 16; i++) {
    const names =
      i < 8
        ? [GPRS[i], R32[i], R16[i], R8REX[i], R8LEGACY[i]]
        : [GPRS[i], `${GPRS[i]}d`, `${GPRS[i]}w`, `${GPRS[i]}b`, `${GPRS[i]}l`];
    if (names.includes(n)) return i >= 4 && i < 8 && n === R8LEGACY[i] ? GPRS[i - 4] : GPRS[i];
  }
  throw new TypeError(`unknown register name: ${name}`);
}

function siteText(insn: Instruction): string {
  return insn.form ?? insn.text;
}

/**
 * Plan an entry probe on the machine code of one function (`code` starts at the entry and should
 * not run past the function's end). Pure: no I/O. See `placeEntryProbe`.
 */
export function planEntrySite(code: Uint8Array, keepRegs: string[], options: PlacementOptions = {}): SitePlan {
  const keep = new Set<Gpr>(keepRegs.map(canonicalRegister));
  const stackMatters = keep.has('rsp');
  const max = options.maxInstructions ?? 8;
  const decodeOpts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  const keepText = keep.size ? [...keep].map((r) => `%${r}`).join(', ') : 'no register';
  const walked: Instruction[] = [];
  const fallback = (why: string): SitePlan => {
    const first = walked[0];
    const head = first ? `entry \`${first.text}\` is ${first.probeable ? 'single-stepped' : 'not probeable'}; ` : '';
    return {
      delta: 0,
      instruction: first ? siteText(first) : '(unknown)',
      emulated: false,
      reason: `${head}${why}; probing the entry`,
      walked,
    };
  };

  let off = 0;
  for (let i = 0; i < max; i++) {
    if (off >= code.length) return fallback(`the function ends at +${off} before any emulated instruction`);
    const r = decodeInstruction(code, off, decodeOpts);
    if (!r.ok) return fallback(`cannot decode the instruction at +${off}: ${r.reason}`);
    const insn = r.insn;
    walked.push(insn);
    if (insn.emulated && insn.probeable) {
      if (i === 0) {
        return {
          delta: 0,
          instruction: siteText(insn),
          emulated: true,
          reason: `entry \`${insn.text}\` is emulated by the kernel; probing the entry`,
          walked,
        };
      }
      const first = walked[0];
      const steps = walked
        .slice(0, -1)
        .map((w) => `+${w.offset} \`${w.text}\``)
        .join(', ');
      const branchNote =
        insn.kind === 'jcc' || insn.kind === 'jmp' || insn.kind === 'call'
          ? ` (${insn.kind === 'call' ? 'calls' : insn.kind === 'jcc' ? 'may jump to' : 'jumps to'} ${relText(insn.target ?? 0)}; the probe fires before it executes, on every call)`
          : '';
      const touchesStack = walked.slice(0, -1).some((w) => w.writes.includes('rsp') || w.writesMemory);
      const stackNote =
        touchesStack && !stackMatters ? ' (it may move %rsp or write memory: allowed, the probe reads registers only, not the stack)' : '';
      return {
        delta: insn.offset,
        instruction: siteText(insn),
        emulated: true,
        reason:
          `entry \`${first.text}\` is single-stepped; +${insn.offset} \`${insn.text}\` is emulated${branchNote} and ` +
          `no instruction before it (${steps}) writes ${keepText} or leaves straight-line code${stackNote}`,
        walked,
      };
    }
    // Not emulated: step over it only if it is straight-line and leaves the kept state alone.
    switch (insn.kind) {
      case 'jcc':
      case 'jmp':
      case 'call':
        return fallback(`+${insn.offset} \`${insn.text}\` is a branch the kernel will not probe (${insn.bytes}) and ends straight-line code`);
      case 'ret':
      case 'indirect':
      case 'trap':
        return fallback(`+${insn.offset} \`${insn.text}\` leaves straight-line code before any emulated instruction`);
      case 'syscall':
        return fallback(`+${insn.offset} \`${insn.text}\` has side effects (the system call runs) before any emulated instruction`);
      default:
        break;
    }
    const hit = insn.writes.filter((r2) => keep.has(r2));
    if (hit.length) {
      return fallback(`+${insn.offset} \`${insn.text}\` writes ${hit.map((r2) => `%${r2}`).join(', ')} before any emulated instruction`);
    }
    if (stackMatters && insn.writesMemory) {
      return fallback(`+${insn.offset} \`${insn.text}\` writes memory, and the probe reads stack state (%rsp is kept)`);
    }
    off += insn.length;
  }
  return fallback(`no emulated instruction within the first ${max} instructions`);
}

/** Up to `size` bytes of `path` at `fileOffset` (fewer at the end of the file); EREAD when unreadable. */
export function readCodeAt(path: string, fileOffset: bigint, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let got = 0;
  try {
    got = withRegularFile(path, undefined, ({ fd }) => fs.readSync(fd, buf, 0, size, Number(fileOffset)));
  } catch (err) {
    throw new PlacementError('EREAD', path, err instanceof FileRefused ? err.reason : (err as Error).message);
  }
  return buf.subarray(0, got);
}

/**
 * The cheapest safe place for an ENTRY uprobe that reads the given argument registers: walk the
 * function's first instructions (at most ~8 and only straight-line code: stop at the first branch
 * or call taken as the site), and pick the first instruction the kernel emulates such that every
 * instruction before it neither writes any of `keepRegs` nor changes %rsp-relative state the probe
 * reads, and that is reached on every call (no earlier branch). If the entry instruction itself is
 * emulated, use it (delta 0). If nothing qualifies, fall back to the entry (delta 0, emulated=false)
 * and say why. Unknown encodings stop the walk (fall back), never guess.
 *
 * `keepRegs` are the registers the probe reads ('rdi', '%rsi', 'edx', bpftrace's 'di' ...). Put
 * 'rsp' in it when the probe reads the stack (return address, stack-passed arguments): then no
 * instruction before the site may change %rsp or write memory.
 *
 * Not checked: code elsewhere that jumps into the bytes between the entry and the site (a loop
 * back to the site would make it fire more than once per call). Compilers do not emit such jumps
 * into a prologue; verify a site per binary when in doubt (the spec does, with objdump).
 *
 * Throws PlacementError for an unreadable file, a non-x86-64 ELF or a missing symbol.
 */
export function placeEntryProbe(path: string, symbol: string, keepRegs: string[], options: PlacementOptions = {}): Placement {
  const syms = readFunctionSymbols(path);
  const sym = syms.get(symbol);
  if (!sym) throw new PlacementError('ENOSYM', path, `no function symbol ${symbol}`);
  const want = sym.size > 0n ? Number(sym.size < 256n ? sym.size : 256n) : 64;
  const plan = planEntrySite(readCodeAt(path, sym.fileOffset, want), keepRegs, options);
  let reason = plan.reason;
  if (sym.type === 'ifunc') {
    reason += `; note: ${symbol} is an IFUNC, so this is its resolver (run once at load), not the implementation calls reach`;
  }
  return {
    symbol,
    path,
    fileOffset: sym.fileOffset + BigInt(plan.delta),
    delta: plan.delta,
    instruction: plan.instruction,
    emulated: plan.emulated,
    reason,
    walked: plan.walked,
  };
}
