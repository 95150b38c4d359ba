import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeInstruction } from './x86-decode';
import { Instruction, kernelEmulatesNopl } from './x86-isa';
import { ElfError, readFunctionSymbols } from '../lib/elf';
import { placeEntryProbe, planEntrySite, readCodeAt } from './entry-site';
import { requireFile, requireTool, run } from './spec-tools';

// These tests use the real kernel, the machine's real libc and libssl, and real tools. When one is
// missing they fail and say what is missing; they never skip.
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const UPROBE_PMU = '/sys/bus/event_source/devices/uprobe/type';


// ---- objdump: the independent reference ------------------------------------

interface ObjInsn {
  addr: bigint;
  length: number;
  /** normalized: no comment, no <symbol>, single spaces */
  text: string;
  mnemonic: string;
  /** direct branch target, if any */
  target?: bigint;
}

const objdumpCache = new Map<string, Map<bigint, ObjInsn>>();

/** Every instruction objdump finds in the executable sections of `file`, by address. */
function objdumpAll(file: string): Map<bigint, ObjInsn> {
  const cached = objdumpCache.get(file);
  if (cached) return cached;
  const out = run(requireTool('objdump', 'binutils'), ['-d', '--wide', file]);
  const map = new Map<bigint, ObjInsn>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*\t(.*)$/.exec(line);
    if (!m) continue;
    const addr = BigInt(`0x${m[1]}`);
    const length = m[2].split(' ').length;
    const text = m[3].replace(/#.*$/, '').replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
    const words = text.split(' ');
    let i = 0;
    while (['bnd', 'data16', 'notrack', 'rex', 'rex.W', 'cs', 'ds', 'lock', 'repz', 'repnz', 'rep'].includes(words[i])) i++;
    const mnemonic = words[i] ?? '';
    let target: bigint | undefined;
    const t = /^(j[a-z]+|call|jmp) ([0-9a-f]+)$/.exec(words.slice(i).join(' '));
    if (t) target = BigInt(`0x${t[2]}`);
    map.set(addr, { addr, length, text, mnemonic, target });
  }
  objdumpCache.set(file, map);
  return map;
}

const FAMILY: Record<string, string> = {};
{
  const legacy = [
    ['rax', 'eax', 'ax', 'al', 'ah'], ['rcx', 'ecx', 'cx', 'cl', 'ch'], ['rdx', 'edx', 'dx', 'dl', 'dh'],
    ['rbx', 'ebx', 'bx', 'bl', 'bh'], ['rsp', 'esp', 'sp', 'spl'], ['rbp', 'ebp', 'bp', 'bpl'],
    ['rsi', 'esi', 'si', 'sil'], ['rdi', 'edi', 'di', 'dil'],
  ];
  for (const names of legacy) for (const n of names) FAMILY[n] = names[0];
  for (let i = 8; i < 16; i++) for (const s of ['', 'd', 'w', 'b']) FAMILY[`r${i}${s}`] = `r${i}`;
}

/**
 * Registers an instruction may write, from objdump's text alone (independent of the decoder):
 * AT&T puts the destination last; a few mnemonics write implicitly. Unknown shapes → '*'.
 */
function objdumpWrites(insn: ObjInsn): Set<string> {
  const w = new Set<string>();
  const body = insn.text.slice(insn.text.indexOf(insn.mnemonic) + insn.mnemonic.length).trim();
  const ops: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of body) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      ops.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) ops.push(cur);
  const reg = (op: string | undefined): string | undefined => {
    const m = /^%([a-z0-9]+)$/.exec((op ?? '').trim());
    return m ? FAMILY[m[1]] : undefined;
  };
  const mn = insn.mnemonic;
  if (/^(test|cmp[bwlq]?|nop[wlq]?|endbr64|pause|bt[wlq]?|ucomis[sd]|comis[sd])$/.test(mn)) return w;
  if (/^(j[a-z]+)$/.test(mn)) return w;
  if (mn === 'push' || mn === 'call' || mn === 'ret') return w.add('rsp');
  if (mn === 'pop') return w.add('rsp').add(reg(ops[0]) ?? '*');
  if (mn === 'leave') return w.add('rsp').add('rbp');
  if (mn === 'syscall') return w.add('rax').add('rcx').add('r11');
  if (/^(cltq|cwtl|cbtw)$/.test(mn)) return w.add('rax');
  if (/^(cqto|cltd|cwtd)$/.test(mn)) return w.add('rdx');
  if (/^(mul|div|idiv)[bwlq]?$/.test(mn) || (/^imul[bwlq]?$/.test(mn) && ops.length === 1)) return w.add('rax').add('rdx');
  if (/^(xchg|xadd|cmpxchg|movs|stos|lods|scas|cmps|rep)/.test(mn)) return w.add('*');
  const dest = ops[ops.length - 1];
  if (dest === undefined) return w;
  const r = reg(dest);
  if (r) w.add(r);
  else if (/^%/.test(dest.trim())) w.add('*'); // a register we do not know (xmm...)
  return w;
}

/** Check the decoder's view of one instruction against objdump's. Returns a problem or undefined. */
function compareWithObjdump(insn: Instruction, base: bigint, objdump: Map<bigint, ObjInsn>): string | undefined {
  const addr = base + BigInt(insn.offset);
  const ref = objdump.get(addr);
  if (!ref) return `0x${addr.toString(16)}: objdump has no instruction boundary here (decoder: ${insn.text}, ${insn.length} bytes)`;
  if (ref.length !== insn.length) return `0x${addr.toString(16)}: length ${insn.length} vs objdump ${ref.length} (${ref.text})`;
  if (insn.target !== undefined) {
    const want = base + BigInt(insn.target);
    if (ref.target !== want) return `0x${addr.toString(16)}: target 0x${want.toString(16)} vs objdump ${ref.text}`;
    const myMn = insn.text.replace(/ <.*$/, '');
    const refMn = ref.text.replace(/ [0-9a-f]+$/, '');
    if (myMn !== refMn) return `0x${addr.toString(16)}: ${myMn} vs objdump ${refMn}`;
    return undefined;
  }
  if (insn.text !== ref.text) return `0x${addr.toString(16)}: "${insn.text}" vs objdump "${ref.text}"`;
  return undefined;
}

/** Direct branch targets anywhere in the file that land strictly after `entry` and at or before `site`. */
function branchesInto(objdump: Map<bigint, ObjInsn>, entry: bigint, site: bigint): ObjInsn[] {
  const hits: ObjInsn[] = [];
  for (const i of objdump.values()) if (i.target !== undefined && i.target > entry && i.target <= site) hits.push(i);
  return hits;
}

/**
 * What every chosen site must satisfy, checked with objdump rather than with the decoder: the site
 * is an instruction boundary holding a jcc/jmp/call/push, nothing before it writes a kept register
 * or branches, and no direct branch in the whole file jumps into (entry, site].
 */
function assertSiteAgainstObjdump(file: string, symbol: string, keep: string[]): void {
  const placement = placeEntryProbe(file, symbol, keep);
  const sym = readFunctionSymbols(file).get(symbol)!;
  const objdump = objdumpAll(file);
  const site = objdump.get(sym.vaddr + BigInt(placement.delta));
  assert.ok(site, `${symbol}+${placement.delta} is not an instruction boundary per objdump`);
  assert.match(site.mnemonic, /^(j[a-z]+|call|push)$/, `${symbol}+${placement.delta}: ${site.text}`);
  let a = sym.vaddr;
  while (a < sym.vaddr + BigInt(placement.delta)) {
    const i = objdump.get(a);
    assert.ok(i, `${symbol}: no instruction at 0x${a.toString(16)} per objdump`);
    assert.doesNotMatch(i.mnemonic, /^(j[a-z]+|call|ret|syscall)$/, `${symbol}: branch before the site: ${i.text}`);
    // a plain push/nop before the site would have been an earlier (cheaper or equal) site
    assert.doesNotMatch(i.text, /^(push %r\w+|nop|xchg %ax,%ax)$/, `${symbol}: emulated ${i.text} comes before the chosen site`);
    const writes = objdumpWrites(i);
    assert.ok(!writes.has('*'), `${symbol}: cannot tell what ${i.text} writes`);
    for (const r of keep) assert.ok(!writes.has(r), `${symbol}: ${i.text} before the site writes %${r}`);
    a += BigInt(i.length);
  }
  assert.equal(a, sym.vaddr + BigInt(placement.delta), `${symbol}: site is not on objdump's instruction stream`);
  const into = branchesInto(objdump, sym.vaddr, sym.vaddr + BigInt(placement.delta));
  assert.deepEqual(
    into.map((i) => `0x${i.addr.toString(16)} ${i.text}`),
    [],
    `${symbol}: direct branches land between the entry and the site`,
  );
  for (const w of placement.walked ?? []) {
    const problem = compareWithObjdump(w, sym.vaddr, objdump);
    assert.equal(problem, undefined, `${symbol}: ${problem}`);
  }
}

// ---- readFunctionSymbols -------------------------------------------------------

describe('readFunctionSymbols', () => {
  it('finds the allocator and mapping functions of libc with the sizes and offsets readelf and nm report', () => {
    requireFile(LIBC, 'glibc');
    const syms = readFunctionSymbols(LIBC);
    const loads = [...run(requireTool('readelf', 'binutils'), ['-lW', LIBC]).matchAll(
      /LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+)/g,
    )].map((m) => ({ offset: BigInt(`0x${m[1]}`), vaddr: BigInt(`0x${m[2]}`), filesz: BigInt(`0x${m[3]}`) }));
    assert.ok(loads.length > 0, 'readelf -l shows no LOAD segment');
    const toOffset = (v: bigint): bigint => {
      const s = loads.find((l) => v >= l.vaddr && v < l.vaddr + l.filesz);
      assert.ok(s, `0x${v.toString(16)} is in no LOAD segment`);
      return v - s.vaddr + s.offset;
    };
    const nm = new Map<string, bigint>();
    for (const line of run(requireTool('nm', 'binutils'), ['-D', '--defined-only', LIBC]).split('\n')) {
      const m = /^([0-9a-f]+) ([TtWwi]) ([^@\s]+)(@@\S+)?$/.exec(line);
      if (m) nm.set(m[3], BigInt(`0x${m[1]}`));
    }
    const readelf = new Map<string, { value: bigint; size: bigint }>();
    for (const line of run(requireTool('readelf', 'binutils'), ['-W', '--dyn-syms', LIBC]).split('\n')) {
      const m = /^\s*\d+: ([0-9a-f]+)\s+(\d+|0x[0-9a-f]+) (FUNC|IFUNC)\s+\w+\s+\w+\s+\d+ (\S+)/.exec(line);
      if (m) readelf.set(m[4].replace(/ \(\d+\)$/, ''), { value: BigInt(`0x${m[1]}`), size: BigInt(m[2]) });
    }
    for (const name of ['malloc', 'free', 'calloc', 'realloc', 'posix_memalign', 'mmap', 'munmap']) {
      const s = syms.get(name);
      assert.ok(s, `${name} not found`);
      assert.ok(s.size > 0n, `${name} has size 0`);
      assert.equal(s.vaddr, nm.get(name), `${name}: vaddr vs nm -D`);
      const versioned = [...readelf.keys()].find((k) => k.startsWith(`${name}@@`));
      assert.ok(versioned, `readelf shows no default version of ${name}`);
      assert.equal(s.vaddr, readelf.get(versioned)!.value, `${name}: vaddr vs readelf`);
      assert.equal(s.size, readelf.get(versioned)!.size, `${name}: size vs readelf`);
      assert.equal(s.fileOffset, toOffset(s.vaddr), `${name}: file offset vs readelf -l`);
      assert.equal(syms.get(versioned)?.vaddr, s.vaddr, `${versioned} is not indexed`);
    }
    // Every versioned function name readelf lists resolves to the same value and size.
    let checked = 0;
    for (const [name, v] of readelf) {
      if (!name.includes('@')) continue;
      const s = syms.get(name);
      assert.ok(s, `${name} (from readelf --dyn-syms) not found`);
      assert.equal(s.vaddr, v.value, `${name}: value`);
      assert.equal(s.size, v.size, `${name}: size`);
      checked++;
    }
    assert.ok(checked > 1000, `only ${checked} versioned functions compared`);
    assert.equal(syms.get('free@@GLIBC_2.2.5')?.vaddr, syms.get('free')?.vaddr);
  });

  it('reads .symtab (local functions) and converts addresses to file offsets when they differ', () => {
    const exe = handmade.exe;
    const syms = readFunctionSymbols(exe);
    const f = syms.get('hm_movrdi');
    assert.ok(f, 'static function hm_movrdi not found in .symtab');
    assert.equal(f.table, 'symtab');
    assert.notEqual(f.vaddr, f.fileOffset, 'test binary should have vaddr != file offset');
    const bytes = readCodeAt(exe, f.fileOffset, 3);
    assert.deepEqual([...bytes], [0x48, 0x85, 0xf6], 'bytes at the computed file offset are not hm_movrdi (test %rsi,%rsi)');
  });

  it('names what is wrong with a file that is not an x86-64 ELF', () => {
    const txt = path.join(handmade.dir, 'not-elf.txt');
    fs.writeFileSync(txt, 'hello');
    assert.throws(() => readFunctionSymbols(txt), (e: unknown) => e instanceof ElfError && e.code === 'ENOTELF');
    assert.throws(() => readFunctionSymbols(path.join(handmade.dir, 'missing')), (e: unknown) => e instanceof ElfError && e.code === 'EREAD');
    assert.throws(() => placeEntryProbe(LIBC, 'no_such_function_here', ['rdi']), (e: unknown) => e instanceof ElfError && e.code === 'ENOSYM');
  });
});

// ---- hand-made functions --------------------------------------------------------

const HANDMADE_ASM = String.raw`
.text
.macro FN name
  .type \name,@function
\name:
.endm
FN hm_movrdi
  test %rsi,%rsi
  mov %rax,%rdi
  je 1f
1: ret
.size hm_movrdi, .-hm_movrdi
FN hm_partial
  test %rsi,%rsi
  mov %al,%dil
  je 1f
1: ret
.size hm_partial, .-hm_partial
FN hm_endbr
  endbr64
  push %rbp
  pop %rbp
  ret
.size hm_endbr, .-hm_endbr
FN hm_vex
  vzeroupper
  push %rbp
  pop %rbp
  ret
.size hm_vex, .-hm_vex
FN hm_ret
  ret
.size hm_ret, .-hm_ret
FN hm_rsp
  sub $8,%rsp
  push %rbx
  pop %rbx
  add $8,%rsp
  ret
.size hm_rsp, .-hm_rsp
FN hm_nopl
  test %rdi,%rdi
  .byte 0x0f,0x1f,0x40,0x00 /* nopl 0x0(%rax) */
  push %rbx
  pop %rbx
  ret
.size hm_nopl, .-hm_nopl
FN hm_syscall
  mov $39,%eax
  syscall
  jmp 1f
1: ret
.size hm_syscall, .-hm_syscall
FN hm_long
  mov %rsi,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  add $1,%rax
  jmp 1f
1: ret
.size hm_long, .-hm_long
FN hm_gocode
  movups %xmm15,0x38(%rsp)
  movups 0x10(%rdi),%xmm1
  xorps %xmm15,%xmm15
  movsd (%rax),%xmm2
  movss %xmm3,0x8(%rsp)
  lock cmpxchg %edi,0x158(%rsi)
  lock xadd %rax,(%rdi)
  bt $3,%rdx
  bt %rcx,%rdx
  ret
.size hm_gocode, .-hm_gocode
FN hm_csnop
  .byte 0x66,0x2e,0x0f,0x1f,0x84,0,0,0,0,0
  ret
.size hm_csnop, .-hm_csnop
.section .note.GNU-stack,"",@progbits
`;

// The hand-made functions stay local (STB_LOCAL, only in .symtab); nothing calls them.
const HANDMADE_MAIN = 'int main(void) { return 0; }\n';

const handmade = { dir: '', exe: '' };

before(() => {
  handmade.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'placement-'));
  const gcc = requireTool('gcc', 'gcc');
  fs.writeFileSync(path.join(handmade.dir, 'fns.s'), HANDMADE_ASM);
  fs.writeFileSync(path.join(handmade.dir, 'main.c'), HANDMADE_MAIN);
  handmade.exe = path.join(handmade.dir, 'handmade');
  // non-PIE at 0x400000: link-time addresses differ from file offsets
  run(gcc, ['-O1', '-no-pie', '-o', handmade.exe, path.join(handmade.dir, 'main.c'), path.join(handmade.dir, 'fns.s')]);
});

after(() => {
  if (handmade.dir) fs.rmSync(handmade.dir, { recursive: true, force: true });
});

describe('placeEntryProbe on hand-made functions', () => {
  it('falls back to the entry when a `mov %rax,%rdi` comes before the first emulated instruction', () => {
    const p = placeEntryProbe(handmade.exe, 'hm_movrdi', ['rdi']);
    assert.equal(p.delta, 0);
    assert.equal(p.emulated, false);
    assert.equal(p.fileOffset, readFunctionSymbols(handmade.exe).get('hm_movrdi')!.fileOffset);
    assert.match(p.reason, /mov %rax,%rdi/);
    assert.match(p.reason, /writes %rdi/);
    // The same function is fine for a probe that only reads %rsi: +6 `je` is the site.
    const q = placeEntryProbe(handmade.exe, 'hm_movrdi', ['rsi']);
    assert.equal(q.delta, 6);
    assert.equal(q.instruction, 'je rel8');
    assert.equal(q.emulated, true);
  });

  it('treats a write to part of a kept register (%dil) as a write to it', () => {
    const p = placeEntryProbe(handmade.exe, 'hm_partial', ['di']);
    assert.equal(p.delta, 0);
    assert.match(p.reason, /mov %al,%dil.*writes %rdi/);
  });

  it('steps over endbr64 (single-stepped on this kernel) to the push behind it', () => {
    const p = placeEntryProbe(handmade.exe, 'hm_endbr', ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9']);
    assert.equal(p.delta, 4);
    assert.equal(p.instruction, 'push %rbp');
    assert.match(p.reason, /entry `endbr64` is single-stepped/);
  });

  it('falls back with a reason, without throwing, on encodings it does not know', () => {
    const p = placeEntryProbe(handmade.exe, 'hm_vex', ['rdi']);
    assert.equal(p.delta, 0);
    assert.equal(p.emulated, false);
    assert.match(p.reason, /cannot decode the instruction at \+0: opcode c5/);
    const cs = placeEntryProbe(handmade.exe, 'hm_csnop', ['rdi']);
    assert.equal(cs.delta, 0);
    assert.match(cs.reason, /prefix 0x2e/);
    // raw bytes: garbage, truncated instructions, an unknown instruction after a known one
    for (const bytes of [[0x0f, 0x0b + 0x30], [0x48], [0x48, 0x83], [0x48, 0x85, 0xff, 0x0f, 0x38, 0x00], [0xc4, 0xe2, 0x79, 0x18, 0x07], []]) {
      const plan = planEntrySite(Uint8Array.from(bytes), ['rdi']);
      assert.equal(plan.delta, 0, `bytes ${bytes.join(',')}`);
      assert.equal(plan.emulated, false);
      assert.ok(plan.reason.length > 20, plan.reason);
    }
    assert.throws(() => planEntrySite(Uint8Array.from([0x55]), ['xmm0']), /unknown register name/);
  });

  it('stops at a return, and at a system call (its side effects would precede the probe)', () => {
    const r = placeEntryProbe(handmade.exe, 'hm_ret', ['rdi']);
    assert.equal(r.delta, 0);
    assert.match(r.reason, /leaves straight-line code/);
    const s = placeEntryProbe(handmade.exe, 'hm_syscall', ['rdi']);
    assert.equal(s.delta, 0);
    assert.match(s.reason, /syscall.*side effects/);
  });

  it('allows %rsp changes unless the probe reads the stack', () => {
    const regsOnly = placeEntryProbe(handmade.exe, 'hm_rsp', ['rdi']);
    assert.equal(regsOnly.delta, 4);
    assert.equal(regsOnly.instruction, 'push %rbx');
    const stack = placeEntryProbe(handmade.exe, 'hm_rsp', ['rdi', 'rsp']);
    assert.equal(stack.delta, 0);
    assert.match(stack.reason, /sub \$0x8,%rsp.*writes %rsp/);
  });

  it('uses a NOPL site only on kernels that emulate it', () => {
    const newer = placeEntryProbe(handmade.exe, 'hm_nopl', ['rdi'], { emulatesNopl: true });
    assert.equal(newer.delta, 3);
    assert.equal(newer.instruction, 'nopl 0x0(%rax)');
    const older = placeEntryProbe(handmade.exe, 'hm_nopl', ['rdi'], { emulatesNopl: false });
    assert.equal(older.delta, 7);
    assert.equal(older.instruction, 'push %rbx');
    assert.equal(kernelEmulatesNopl('6.18.44-fc'), true);
    assert.equal(kernelEmulatesNopl('6.1.0-18-amd64'), false);
  });

  it('looks at no more than maxInstructions instructions', () => {
    const p = placeEntryProbe(handmade.exe, 'hm_long', ['rdi']);
    assert.equal(p.delta, 0);
    assert.match(p.reason, /no emulated instruction within the first 8 instructions/);
    const q = placeEntryProbe(handmade.exe, 'hm_long', ['rdi'], { maxInstructions: 12 });
    assert.equal(q.instruction, 'jmp rel8');
    assert.equal(q.delta, 3 + 8 * 4);
  });

  it('decodes the hand-made functions the way objdump does', () => {
    const syms = readFunctionSymbols(handmade.exe);
    const objdump = objdumpAll(handmade.exe);
    for (const name of ['hm_movrdi', 'hm_partial', 'hm_endbr', 'hm_ret', 'hm_rsp', 'hm_nopl', 'hm_syscall', 'hm_long', 'hm_gocode']) {
      const s = syms.get(name)!;
      const code = readCodeAt(handmade.exe, s.fileOffset, Number(s.size));
      for (let off = 0; off < code.length; ) {
        const r = decodeInstruction(code, off);
        assert.ok(r.ok, `${name}+${off}: ${!r.ok && r.reason}`);
        assert.equal(compareWithObjdump(r.insn, s.vaddr, objdump), undefined);
        off += r.insn.length;
      }
    }
  });
});

describe('decoding what Go code holds: SSE moves, lock-prefixed read-modify-writes, bt', () => {
  it('decodes lock cmpxchg/xadd as never probeable, with the registers they write; refuses lock without a memory destination', () => {
    const one = (...bytes: number[]) => decodeInstruction(Uint8Array.from(bytes), 0, { emulatesNopl: true });
    const cmpxchg = one(0xf0, 0x0f, 0xb1, 0xbe, 0x58, 0x01, 0x00, 0x00); // lock cmpxchg %edi,0x158(%rsi)
    assert.ok(cmpxchg.ok, !cmpxchg.ok ? cmpxchg.reason : '');
    assert.equal(cmpxchg.insn.text, 'lock cmpxchg %edi,0x158(%rsi)');
    assert.equal(cmpxchg.insn.probeable, false);
    assert.deepEqual(cmpxchg.insn.writes, ['rax']);
    assert.equal(cmpxchg.insn.writesMemory, true);
    const xadd = one(0xf0, 0x48, 0x0f, 0xc1, 0x07); // lock xadd %rax,(%rdi)
    assert.ok(xadd.ok && !xadd.insn.probeable && xadd.insn.writes.includes('rax'));
    const bad = one(0xf0, 0x48, 0x01, 0xc0); // lock add %rax,%rax: #UD
    assert.ok(!bad.ok && /lock prefix/.test(bad.reason), JSON.stringify(bad));
    const twice = one(0xf0, 0xf0, 0x0f, 0xb1, 0x3e);
    assert.ok(!twice.ok, 'a repeated lock prefix is refused');
    const movups = one(0x44, 0x0f, 0x11, 0x7c, 0x24, 0x38); // movups %xmm15,0x38(%rsp)
    assert.ok(movups.ok && movups.insn.writes.length === 0 && movups.insn.writesMemory && movups.insn.probeable);
  });
});

// ---- real targets -----------------------------------------------------------------

describe('placeEntryProbe on this machine libc and libssl', () => {
  it('free: a site past the entry, emulated, with %rdi untouched before it (checked with objdump)', () => {
    requireFile(LIBC, 'glibc');
    const p = placeEntryProbe(LIBC, 'free', ['rdi']);
    assert.ok(p.delta > 0, `free: delta ${p.delta}: ${p.reason}`);
    assert.equal(p.emulated, true);
    assert.match(p.instruction, /^(j[a-z]+ rel(8|32)|call rel32|push %r\w+)$/);
    assertSiteAgainstObjdump(LIBC, 'free', ['rdi']);
    // The prologue gdb shows on this machine: test %rdi,%rdi ; je ...
    const gdb = run(requireTool('gdb', 'gdb'), ['-batch', '-ex', 'x/3i free', LIBC]);
    const site = gdb.split('\n').find((l) => new RegExp(`<[^>]*\\+${p.delta}>:`).test(l));
    assert.ok(site, `gdb shows no instruction at free+${p.delta}:\n${gdb}`);
  });

  it('malloc: the entry itself (push %r12 is emulated)', () => {
    const p = placeEntryProbe(LIBC, 'malloc', ['rdi']);
    assert.equal(p.delta, 0);
    assert.equal(p.emulated, true);
    assert.equal(p.instruction, 'push %r12');
  });

  it('calloc, realloc, posix_memalign, mmap: emulated sites that objdump agrees with', () => {
    const cases: [string, string[]][] = [
      ['calloc', ['rdi', 'rsi']],
      ['realloc', ['rdi', 'rsi']],
      ['posix_memalign', ['rdi', 'rsi', 'rdx']],
      ['mmap', ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9']],
    ];
    for (const [name, keep] of cases) {
      const p = placeEntryProbe(LIBC, name, keep);
      assert.equal(p.emulated, true, `${name}: ${p.reason}`);
      assertSiteAgainstObjdump(LIBC, name, keep);
    }
    const munmap = placeEntryProbe(LIBC, 'munmap', ['rdi', 'rsi']);
    assert.equal(munmap.delta, 0);
    assert.match(munmap.reason, /syscall/);
  });

  it('SSL_read, SSL_write: past `sub $0x18,%rsp` to an emulated branch with the arguments intact', () => {
    requireFile(LIBSSL, 'OpenSSL 3 (libssl3)');
    for (const name of ['SSL_read', 'SSL_write']) {
      const p = placeEntryProbe(LIBSSL, name, ['rdi', 'rsi', 'rdx']);
      assert.equal(p.emulated, true, `${name}: ${p.reason}`);
      assert.ok(p.delta > 0, `${name}: delta ${p.delta}`);
      assert.match(p.instruction, /^(j[a-z]+ rel(8|32)|call rel32|push %r\w+)$/, name);
      assert.match(p.reason, /entry `sub \$0x18,%rsp` is single-stepped/);
      assertSiteAgainstObjdump(LIBSSL, name, ['rdi', 'rsi', 'rdx']);
    }
    for (const name of ['SSL_read_ex', 'SSL_write_ex']) {
      const p = placeEntryProbe(LIBSSL, name, ['rdi', 'rsi', 'rdx', 'rcx']);
      assert.equal(p.emulated, true, `${name}: ${p.reason}`);
      assertSiteAgainstObjdump(LIBSSL, name, ['rdi', 'rsi', 'rdx', 'rcx']);
    }
  });

  it('decodes function prologues across libc and libssl exactly as objdump does', (t) => {
    let decoded = 0;
    let entries = 0;
    let entriesKnown = 0;
    const problems: string[] = [];
    for (const file of [LIBC, LIBSSL]) {
      const objdump = objdumpAll(file);
      const seen = new Set<bigint>();
      for (const s of readFunctionSymbols(file).values()) {
        if (seen.has(s.vaddr) || s.size === 0n) continue;
        seen.add(s.vaddr);
        entries++;
        const code = readCodeAt(file, s.fileOffset, Number(s.size < 128n ? s.size : 128n));
        let off = 0;
        for (let i = 0; i < 8 && off < code.length; i++) {
          const r = decodeInstruction(code, off);
          if (!r.ok) break;
          if (i === 0) entriesKnown++;
          decoded++;
          const problem = compareWithObjdump(r.insn, s.vaddr, objdump);
          if (problem) problems.push(`${path.basename(file)} ${s.name}: ${problem} [${r.insn.bytes}]`);
          off += r.insn.length;
        }
      }
    }
    t.diagnostic(`${entries} functions, first instruction known for ${entriesKnown}, ${decoded} instructions compared`);
    assert.deepEqual(problems.slice(0, 20), []);
    assert.ok(entriesKnown / entries > 0.9, `decoder knows only ${entriesKnown}/${entries} entry instructions`);
  });
});

// ---- live: the kernel fires the chosen site once per call and it sees the arguments --------

// bpftrace 0.17 on this machine refuses `uprobe:...:free+3` ("compiled without (k|u)probe offset
// support"), so the check attaches through the perf uprobe PMU directly — the same mechanism libbpf
// uses (config1 = path, config2 = file offset) — and samples the user registers at every hit.
const PROBE_CHECK_C = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGES 1024 /* 4 MiB per event: room for every sample of the run, read afterwards */
enum { R_DX = 3, R_SI = 4, R_DI = 5 };

struct ev { int fd; struct perf_event_mmap_page *mp; unsigned long long off; };

static int pmu_type(void) {
  FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");
  int t = -1;
  if (!f || fscanf(f, "%d", &t) != 1) { fprintf(stderr, "no uprobe PMU (/sys/bus/event_source/devices/uprobe/type)\n"); exit(2); }
  fclose(f);
  return t;
}

static void open_ev(struct ev *e, const char *path, unsigned long long off) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = pmu_type();
  a.config1 = (uint64_t)(uintptr_t)path;
  a.config2 = off;
  a.disabled = 1;
  a.sample_period = 1;
  a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_REGS_USER;
  a.sample_regs_user = (1ULL << R_DX) | (1ULL << R_SI) | (1ULL << R_DI);
  a.wakeup_events = 1 << 30;
  e->off = off;
  e->fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  if (e->fd < 0) { perror("perf_event_open(uprobe)"); exit(3); }
  e->mp = mmap(0, (PAGES + 1) * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, e->fd, 0);
  if (e->mp == MAP_FAILED) { perror("mmap(perf ring)"); exit(4); }
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: %s free|ssl PROBED_FILE N SYMBOL OFFSET...\n", argv[0]); return 1; }
  const char *mode = argv[1], *file = argv[2], *symbol = argv[4];
  int n = atoi(argv[3]), ne = argc - 5;
  int ssl = strcmp(mode, "ssl") == 0;
  void *fn = 0;
  if (ssl) {
    void *h = dlopen(file, RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen %s: %s\n", file, dlerror()); return 5; }
    fn = dlsym(h, symbol);
  } else {
    fn = dlsym(RTLD_DEFAULT, symbol);
  }
  if (!fn) { fprintf(stderr, "dlsym %s failed\n", symbol); return 6; }
  struct ev *evs = calloc(ne, sizeof *evs);
  for (int i = 0; i < ne; i++) open_ev(&evs[i], file, strtoull(argv[5 + i], 0, 0));
  /* the arguments of call i, decided before the probes are enabled */
  uint64_t *a0 = calloc(n, 8);
  static char buf[64];
  for (int i = 0; i < n; i++) a0[i] = ssl ? 0x10000 + 16 * (uint64_t)i : (uint64_t)(uintptr_t)malloc(16 + (i % 64));
  for (int i = 0; i < ne; i++) ioctl(evs[i].fd, PERF_EVENT_IOC_ENABLE, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (ssl) {
    int (*f)(void *, void *, int) = (int (*)(void *, void *, int))fn;
    for (int i = 0; i < n; i++) f((void *)(uintptr_t)a0[i], buf, -1); /* num < 0: returns -1 at once */
  } else {
    void (*f)(void *) = (void (*)(void *))fn;
    for (int i = 0; i < n; i++) f((void *)(uintptr_t)a0[i]);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (int i = 0; i < ne; i++) ioctl(evs[i].fd, PERF_EVENT_IOC_DISABLE, 0);
  double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
  for (int k = 0; k < ne; k++) {
    struct perf_event_mmap_page *mp = evs[k].mp;
    uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE), tail = mp->data_tail;
    unsigned char *data = (unsigned char *)mp + mp->data_offset;
    uint64_t size = mp->data_size;
    long hits = 0, matched = 0, lost = 0, first_bad = -1;
    while (tail < head) {
      unsigned char rec[256];
      struct perf_event_header h;
      for (unsigned j = 0; j < sizeof h; j++) ((unsigned char *)&h)[j] = data[(tail + j) % size];
      if (h.size == 0) break;
      for (unsigned j = 0; j < h.size && j < sizeof rec; j++) rec[j] = data[(tail + j) % size];
      if (h.type == PERF_RECORD_SAMPLE) {
        uint64_t *p = (uint64_t *)(rec + sizeof h); /* ip, abi, dx, si, di */
        int ok = hits < n && p[1] != 0 && p[4] == a0[hits];
        if (ok && ssl) ok = p[3] == (uint64_t)(uintptr_t)buf && (uint32_t)p[2] == 0xffffffffu;
        if (ok) matched++; else if (first_bad < 0) first_bad = hits;
        hits++;
      } else if (h.type == PERF_RECORD_LOST) lost++;
      tail += h.size;
    }
    printf("{\"offset\":%llu,\"calls\":%d,\"hits\":%ld,\"matched\":%ld,\"lost\":%ld,\"firstBad\":%ld,\"nsPerCall\":%.0f}\n",
           evs[k].off, n, hits, matched, lost, first_bad, ns);
  }
  return 0;
}
`;

interface ProbeCheck {
  offset: number;
  calls: number;
  hits: number;
  matched: number;
  lost: number;
  firstBad: number;
  nsPerCall: number;
}

describe('live check: uprobes at the chosen sites (real kernel, real libc and libssl)', () => {
  let checker = '';
  before(() => {
    requireFile(UPROBE_PMU, 'the perf uprobe PMU (CONFIG_UPROBE_EVENTS)');
    const src = path.join(handmade.dir, 'probecheck.c');
    fs.writeFileSync(src, PROBE_CHECK_C);
    checker = path.join(handmade.dir, 'probecheck');
    run(requireTool('gcc', 'gcc'), ['-O1', '-Wall', '-o', checker, src, '-ldl']);
  });

  const check = (mode: 'free' | 'ssl', file: string, n: number, symbol: string, offsets: bigint[]): ProbeCheck[] =>
    run(checker, [mode, file, String(n), symbol, ...offsets.map((o) => `0x${o.toString(16)}`)])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ProbeCheck);

  it('free: the chosen site fires once per call and sees every pointer in %rdi, like the entry', (t) => {
    const p = placeEntryProbe(LIBC, 'free', ['rdi']);
    const entry = readFunctionSymbols(LIBC).get('free')!.fileOffset;
    assert.ok(p.delta > 0, p.reason);
    const n = 10_000;
    const [atEntry, atSite] = check('free', LIBC, n, 'free', [entry, p.fileOffset]);
    for (const [where, r] of [['free+0', atEntry], [`free+${p.delta}`, atSite]] as const) {
      assert.equal(r.lost, 0, `${where}: samples lost`);
      assert.equal(r.hits, n, `${where}: ${r.hits} hits for ${n} calls`);
      assert.equal(r.matched, n, `${where}: ${n - r.matched} hits saw the wrong %rdi (first at call ${r.firstBad})`);
    }
    // Cost, one probe at a time: reported, not asserted (timing depends on the host).
    const [alone0] = check('free', LIBC, 20_000, 'free', [entry]);
    const [aloneSite] = check('free', LIBC, 20_000, 'free', [p.fileOffset]);
    t.diagnostic(
      `free+0 (${placeEntryProbe(LIBC, 'free', ['rdi']).walked?.[0].text}): ${alone0.nsPerCall} ns/call; ` +
        `free+${p.delta} (${p.instruction}): ${aloneSite.nsPerCall} ns/call; both together ${atSite.nsPerCall} ns/call, ${n} hits each, all matched`,
    );
  });

  it('SSL_read, SSL_write: the chosen site fires once per call with %rdi, %rsi, %edx intact', (t) => {
    requireFile(LIBSSL, 'OpenSSL 3 (libssl3)');
    for (const name of ['SSL_read', 'SSL_write']) {
      const p = placeEntryProbe(LIBSSL, name, ['rdi', 'rsi', 'rdx']);
      const entry = readFunctionSymbols(LIBSSL).get(name)!.fileOffset;
      const n = 5_000;
      const [atEntry, atSite] = check('ssl', LIBSSL, n, name, [entry, p.fileOffset]);
      for (const [where, r] of [[`${name}+0`, atEntry], [`${name}+${p.delta}`, atSite]] as const) {
        assert.equal(r.lost, 0, `${where}: samples lost`);
        assert.equal(r.hits, n, `${where}: ${r.hits} hits for ${n} calls`);
        assert.equal(r.matched, n, `${where}: ${n - r.matched} hits saw wrong arguments (first at call ${r.firstBad})`);
      }
      const [alone0] = check('ssl', LIBSSL, n, name, [entry]);
      const [aloneSite] = check('ssl', LIBSSL, n, name, [p.fileOffset]);
      t.diagnostic(`${name}+0: ${alone0.nsPerCall} ns/call; ${name}+${p.delta} (${p.instruction}): ${aloneSite.nsPerCall} ns/call`);
    }
  });
});
