/**
 * Instructions x86-decode.ts decodes for the code walks of Go functions and glibc's allocator, kept
 * here so that each file stays readable: SSE moves and xor/pxor (no general register written), the
 * read-modify-writes compilers put under `lock` (cmpxchg, xadd, xchg), and bt. None is one the
 * kernel emulates; a `lock`ed one is never probeable (x86-decode.ts marks it).
 */
import { type Gpr, immText, type Instruction, type ModRM, regFamily, regName, type Size, Unknown } from './x86-isa';

/** What the decoder of one instruction shares with these helpers. */
export interface MoreContext {
  code: Uint8Array;
  /** the offset of the next byte */
  at(): number;
  byte(): number;
  s8(): bigint;
  modrm(): ModRM;
  insn(fields: Partial<Instruction> & { mnemonic: string; text: string }): Instruction;
  rmOperand(m: ModRM, size: Size): { text: string; reg?: Gpr };
  writeTo(o: { reg?: Gpr }): Partial<Instruction>;
  plainPrefixes(what: string): void;
  prefixes: number[];
  has66: boolean;
  hasF2: boolean;
  hasF3: boolean;
  seg: string;
  hasRex: boolean;
  opsize: Size;
}

/** 0f-prefixed instructions of this file; undefined for any other second byte. */
export function decodeMore0f(c: MoreContext, op2: number): Instruction | undefined {
  // SSE moves, xorps/xorpd and pxor between xmm registers and memory (Go zeroes with %xmm15).
  if (op2 === 0x10 || op2 === 0x11 || op2 === 0x57 || (op2 === 0xef && c.has66)) {
    const sse = c.prefixes.filter((b) => b !== 0x64 && b !== 0x65);
    if (sse.length > 1 || (op2 !== 0x10 && op2 !== 0x11 && (c.hasF2 || c.hasF3))) {
      throw new Unknown(`0f ${op2.toString(16)} with prefixes this decoder does not know`);
    }
    const m = c.modrm();
    if (m.isReg && c.seg) throw new Unknown('segment prefix on an instruction without a memory operand');
    const mn =
      op2 === 0xef ? 'pxor' : op2 === 0x57 ? (c.has66 ? 'xorpd' : 'xorps') : c.hasF3 ? 'movss' : c.hasF2 ? 'movsd' : c.has66 ? 'movupd' : 'movups';
    const xmm = `%xmm${m.reg}`;
    const other = m.isReg ? `%xmm${m.rm}` : m.memText;
    if (op2 === 0x11) return c.insn({ mnemonic: mn, text: `${mn} ${xmm},${other}`, writesMemory: !m.isReg });
    return c.insn({ mnemonic: mn, text: `${mn} ${other},${xmm}` });
  }

  // cmpxchg (writes E and the accumulator) and xadd (writes E and G), usually under lock.
  if (op2 === 0xb0 || op2 === 0xb1 || op2 === 0xc0 || op2 === 0xc1) {
    const cmpxchg = op2 < 0xc0;
    c.plainPrefixes(cmpxchg ? 'cmpxchg' : 'xadd');
    const size: Size = op2 & 1 ? c.opsize : 8;
    const m = c.modrm();
    const e = c.rmOperand(m, size);
    const also: Gpr = cmpxchg ? 'rax' : regFamily(m.reg, size, c.hasRex);
    const mn = cmpxchg ? 'cmpxchg' : 'xadd';
    return c.insn({ mnemonic: mn, text: `${mn} %${regName(m.reg, size, c.hasRex)},${e.text}`, ...c.writeTo(e), writes: [...(e.reg ? [e.reg] : []), also] });
  }

  // bt r, r/m and bt $imm8, r/m (0f ba /4): flags only.
  if (op2 === 0xa3 || (op2 === 0xba && ((c.code[c.at()] >> 3) & 7) === 4)) {
    c.plainPrefixes('bt');
    const m = c.modrm();
    const e = c.rmOperand(m, c.opsize);
    const src = op2 === 0xa3 ? `%${regName(m.reg, c.opsize, c.hasRex)}` : immText(c.s8(), 8);
    return c.insn({ mnemonic: 'bt', text: `bt ${src},${e.text}` });
  }
  return undefined;
}

/** xchg r/m, r (86, 87): writes both operands (locked by the CPU whenever one is memory). */
export function decodeXchg(c: MoreContext, op: number): Instruction {
  c.plainPrefixes('xchg');
  const size: Size = op === 0x87 ? c.opsize : 8;
  const m = c.modrm();
  const e = c.rmOperand(m, size);
  const r = regFamily(m.reg, size, c.hasRex);
  return c.insn({ mnemonic: 'xchg', text: `xchg %${regName(m.reg, size, c.hasRex)},${e.text}`, ...c.writeTo(e), writes: [...(e.reg ? [e.reg] : []), r] });
}
