/**
 * The x86-64 facts placement's decoder (x86-decode.ts) works with: register names and families,
 * condition codes, the decoded instruction's shape, operand text as objdump prints it, ModRM/SIB
 * operands, and which kernels emulate NOPL.
 */
import * as os from 'node:os';

export const GPRS = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type Gpr = (typeof GPRS)[number];

export const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
export const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
export const R8REX = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
export const R8LEGACY = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
export const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
export const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
export const SHIFT: (string | undefined)[] = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', undefined, 'sar'];

export type Size = 8 | 16 | 32 | 64;

export function regName(n: number, size: Size, rex: boolean): string {
  if (size === 64) return GPRS[n];
  if (n >= 8) return `r${n}${size === 32 ? 'd' : size === 16 ? 'w' : 'b'}`;
  if (size === 32) return R32[n];
  if (size === 16) return R16[n];
  return rex ? R8REX[n] : R8LEGACY[n];
}

/** The 64-bit register a (possibly partial) register operand belongs to. */
export function regFamily(n: number, size: Size, rex: boolean): Gpr {
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

/** An encoding outside the supported subset: the decoder stops and says why, never guesses a length. */
export class Unknown extends Error {}

/** a function-relative offset as `+200` / `-560` */
export function relText(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`;
}

export function hex(n: bigint | number): string {
  const v = BigInt(n);
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

export function immText(value: bigint, size: Size): string {
  const bits = BigInt(size);
  return `$0x${BigInt.asUintN(Number(bits), value).toString(16)}`;
}

export interface ModRM {
  mod: number;
  /** reg field with REX.R */
  reg: number;
  /** rm register with REX.B (when mod == 3) */
  rm: number;
  isReg: boolean;
  memText: string;
}

/** The byte readers of one instruction being decoded (they throw Unknown past the available bytes). */
export interface ByteReader {
  byte(): number;
  s8(): bigint;
  s32(): bigint;
}

/** A ModRM byte and its SIB/displacement; `rex` bits R, X, B as 8 or 0; `seg` is `%fs:`, `%gs:` or empty. */
export function readModRM(rd: ByteReader, R: number, X: number, B: number, seg: string): ModRM {
  const { byte, s8, s32 } = rd;
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
}

/** 0f 1f NOPL is emulated by the kernel from 6.18 on (measured on 6.18.44; older sources emulate only 0x90). */
export function kernelEmulatesNopl(release: string = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 18);
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
