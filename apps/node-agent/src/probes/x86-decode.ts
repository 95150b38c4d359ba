/**
 * A small x86-64 decoder for the shapes found in function prologues and in the bodies
 * return-site.ts walks: lengths, AT&T text, registers written, and whether the kernel emulates the
 * instruction when a uprobe sits on it (see entry-site.ts for what was measured).
 */
import {
  ALU,
  CC,
  type DecodeOptions,
  type DecodeResult,
  GPRS,
  type Gpr,
  immText,
  type Instruction,
  kernelEmulatesNopl,
  type ModRM,
  readModRM,
  regFamily,
  regName,
  relText,
  SHIFT,
  type Size,
  Unknown,
} from './x86-isa';
import { decodeMore0f, decodeXchg, type MoreContext } from './x86-decode-more';

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

  let locked = false;
  const run = (): Instruction => {
    // Legacy prefixes; `lock` apart: its instruction is decoded (for code walks), never probed.
    const prefixes: number[] = [];
    for (;;) {
      if (p >= code.length) throw new Unknown('instruction runs past the end of the available bytes');
      const b = code[p];
      if (b === 0x66 || b === 0x67 || b === 0xf2 || b === 0xf3 || b === 0x64 || b === 0x65) {
        prefixes.push(b);
        p++;
        continue;
      }
      if (b === 0xf0 && !locked) {
        locked = true;
        p++;
        continue;
      }
      if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0xf0) {
        throw new Unknown(
          `prefix 0x${b.toString(16)} (${b === 0xf0 ? 'repeated lock' : 'segment override / branch hint'}): ` +
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

    const modrm = (): ModRM => readModRM({ byte, s8, s32 }, R, X, B, seg);

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

    const ctx: MoreContext = { code, at: () => p, byte, s8, modrm, insn, rmOperand, writeTo, plainPrefixes, prefixes, has66, hasF2, hasF3, seg, hasRex, opsize };

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

    if (op === 0x86 || op === 0x87) return decodeXchg(ctx, op);

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

      const more = decodeMore0f(ctx, op2);
      if (more) return more;

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
    const insn = run();
    if (!locked) return { ok: true, insn };
    // lock is valid only on a read-modify-write of memory; the kernel refuses a uprobe there.
    if (!insn.writesMemory || insn.kind !== 'other') throw new Unknown(`lock prefix on \`${insn.text}\` (no memory destination)`);
    return { ok: true, insn: { ...insn, text: `lock ${insn.text}`, emulated: false, probeable: false } };
  } catch (err) {
    if (err instanceof Unknown) {
      const shown = Array.from(code.subarray(offset, Math.min(code.length, offset + 8)), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return { ok: false, offset, reason: `${err.message} (bytes ${shown})` };
    }
    throw err;
  }
}
