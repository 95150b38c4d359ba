import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfError, readFunctionSymbols } from '../lib/elf';
import { readCodeAt } from './entry-site';
import { placeAllocatorProbes, placeSslProbes, SslProbeSites } from './placement';
import { Instruction } from './x86-isa';
import { placeReturnProbe, planReturnSite, ReturnPlacement, sweepRets } from './return-site';
import { requireFile, requireTool, run } from './spec-tools';

// Real files, real tools: when one is missing the test fails and says what is missing.
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const NODE = '/usr/bin/node';
const SSL_FNS = ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex'];


// ---- objdump: an independent view of the code ----------------------------------------

interface ObjInsn {
  addr: bigint;
  length: number;
  /** normalized: no comment, no <symbol>, single spaces */
  text: string;
  mnemonic: string;
  /** text after the mnemonic */
  operands: string;
  /** direct branch/call target */
  target?: bigint;
}

function parseObjdump(out: string): Map<bigint, ObjInsn> {
  const map = new Map<bigint, ObjInsn>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*\t(.*)$/.exec(line);
    if (!m) continue;
    const addr = BigInt(`0x${m[1]}`);
    const text = m[3].replace(/#.*$/, '').replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
    const words = text.split(' ');
    let i = 0;
    while (['bnd', 'data16', 'notrack', 'rex', 'rex.W', 'cs', 'ds', 'lock', 'repz', 'repnz', 'rep'].includes(words[i])) i++;
    const mnemonic = words[i] ?? '';
    const operands = words.slice(i + 1).join(' ');
    const t = /^(j[a-z]+|call|jmp) ([0-9a-f]+)$/.exec(words.slice(i).join(' '));
    map.set(addr, { addr, length: m[2].split(' ').length, text, mnemonic, operands, target: t ? BigInt(`0x${t[2]}`) : undefined });
  }
  return map;
}

const wholeCache = new Map<string, Map<bigint, ObjInsn>>();
function objdumpWhole(file: string): Map<bigint, ObjInsn> {
  let m = wholeCache.get(file);
  if (!m) wholeCache.set(file, (m = parseObjdump(run(requireTool('objdump', 'binutils'), ['-d', '--wide', file]))));
  return m;
}

/** objdump of [start, end) only (for a 100 MB binary like node). */
function objdumpRange(file: string, start: bigint, end: bigint): Map<bigint, ObjInsn> {
  const args = ['-d', '--wide', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${end.toString(16)}`, file];
  return parseObjdump(run(requireTool('objdump', 'binutils'), args));
}

const RAX_NAMES = new Set(['%rax', '%eax', '%ax', '%al', '%ah']);

/** Whether an instruction may write %rax, from objdump's text alone; doubtful shapes count as writes. */
function objWritesRax(i: ObjInsn): boolean {
  const mn = i.mnemonic;
  if (mn === 'call' || mn === 'syscall') return true;
  if (/^(j[a-z]+|test[bwlq]?|cmp[bwlq]?|nop[wlq]?|endbr64|pause|push[q]?|ret[q]?|leave|bt[wlq]?|hlt|ud2|int3)$/.test(mn)) return false;
  if (/^(cltq|cwtl|cbtw|cpuid|rdtscp?|lahf|xlat|xgetbv|rdpmc|in[bwl]?)$/.test(mn)) return true;
  if (/^(lods|scas|stos|movs|cmps|xchg|xadd|cmpxchg)/.test(mn)) return true;
  if (/^(mul|div|idiv)[bwlq]?$/.test(mn)) return true;
  if (/^imul[bwlq]?$/.test(mn) && !i.operands.includes(',')) return true;
  const ops: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of i.operands) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      ops.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) ops.push(cur);
  const dest = (ops[ops.length - 1] ?? '').trim();
  return RAX_NAMES.has(dest);
}

/** What objdump's instruction stream says the kernel emulates (jcc/jmp rel, push reg, plain nops). */
function objEmulated(i: ObjInsn): boolean {
  if (/^(cs|ds|es|ss|lock|data16|rex)/.test(i.text)) return false;
  if (i.target !== undefined && /^(bnd )?(j[a-z]+|call) [0-9a-f]+$/.test(i.text)) return true;
  return /^(push %r\w+|nop|xchg %ax,%ax|pause|nop[wl] .*)$/.test(i.text);
}

interface ObjCfg {
  succ: Map<bigint, bigint[]>;
  rets: bigint[];
  /** why objdump's view cannot be walked (tail call, indirect jump ...) */
  problem?: string;
}

/** The control-flow graph of the function [start, end) from objdump's instructions. */
function objCfg(code: Map<bigint, ObjInsn>, start: bigint, end: bigint): ObjCfg {
  const succ = new Map<bigint, bigint[]>();
  const rets: bigint[] = [];
  const inside = (a: bigint): boolean => a >= start && a < end;
  const paddingToEnd = (from: bigint): boolean => {
    for (let a = from; a < end; ) {
      const i = code.get(a);
      if (!i || !/^(nop[wl]?|int3|xchg|data16|cs)/.test(i.text)) return false;
      a += BigInt(i.length);
    }
    return true;
  };
  const work = [start];
  while (work.length) {
    const a = work.pop()!;
    if (succ.has(a)) continue;
    const i = code.get(a);
    if (!i) return { succ, rets, problem: `objdump has no instruction at 0x${a.toString(16)}` };
    const next = a + BigInt(i.length);
    const out: bigint[] = [];
    if (/^ret/.test(i.mnemonic)) rets.push(a);
    else if (/^(hlt|ud2|int3)$/.test(i.mnemonic)) {
      // ends the path
    } else if (i.mnemonic === 'jmp') {
      if (i.target === undefined) return { succ, rets, problem: `indirect jump ${i.text}` };
      if (!inside(i.target)) return { succ, rets, problem: `tail call ${i.text}` };
      out.push(i.target);
    } else if (/^j/.test(i.mnemonic)) {
      if (i.target === undefined || !inside(i.target)) return { succ, rets, problem: `jcc out of the function ${i.text}` };
      out.push(i.target, next);
    } else if (i.mnemonic === 'call') {
      if (i.target !== undefined && inside(i.target)) return { succ, rets, problem: `call into the function ${i.text}` };
      if (!(next >= end || paddingToEnd(next))) out.push(next);
    } else {
      if (next >= end) return { succ, rets, problem: `falls off the end at ${i.text}` };
      out.push(next);
    }
    succ.set(a, out);
    work.push(...out);
  }
  return { succ, rets };
}

function objReach(g: ObjCfg, from: bigint[], blocked?: bigint): Set<bigint> {
  const seen = new Set<bigint>();
  const stack = from.filter((a) => a !== blocked);
  while (stack.length) {
    const a = stack.pop()!;
    if (seen.has(a)) continue;
    seen.add(a);
    for (const t of g.succ.get(a) ?? []) if (t !== blocked) stack.push(t);
  }
  return seen;
}

/** Why `site` is not a return site per objdump's view, or undefined when it is one. */
function objSiteProblem(code: Map<bigint, ObjInsn>, g: ObjCfg, start: bigint, site: bigint): string | undefined {
  const i = code.get(site);
  if (!i) return `no instruction boundary at 0x${site.toString(16)}`;
  if (!objEmulated(i) || i.mnemonic === 'call') return `${i.text} is not an emulated jcc/jmp/push/nop`;
  if (site !== start) {
    const around = objReach(g, [start], site);
    const ret = g.rets.find((r) => around.has(r));
    if (ret !== undefined) return `ret at 0x${ret.toString(16)} is reachable without passing it`;
  }
  const after = objReach(g, g.succ.get(site) ?? []);
  if (after.has(site)) return 'on a loop';
  // instructions on a path from the site to a ret
  const pred = new Map<bigint, bigint[]>();
  for (const [a, outs] of g.succ) for (const t of outs) (pred.get(t) ?? pred.set(t, []).get(t)!).push(a);
  const toRet = new Set<bigint>();
  const stack = [...g.rets];
  while (stack.length) {
    const a = stack.pop()!;
    if (toRet.has(a)) continue;
    toRet.add(a);
    stack.push(...(pred.get(a) ?? []));
  }
  for (const a of [site, ...after]) {
    const w = code.get(a)!;
    if (toRet.has(a) && objWritesRax(w)) return `${w.text} at 0x${a.toString(16)} writes %rax after it`;
  }
  return undefined;
}

/** Every return site objdump's view allows, latest (nearest the rets) first. */
function objSites(code: Map<bigint, ObjInsn>, start: bigint, end: bigint): { sites: bigint[]; problem?: string } {
  const g = objCfg(code, start, end);
  if (g.problem) return { sites: [], problem: g.problem };
  if (!g.rets.length) return { sites: [], problem: 'no ret' };
  const sites = [...g.succ.keys()].filter((a) => objSiteProblem(code, g, start, a) === undefined);
  // a later site is reachable from an earlier one (they lie on every path, on no loop)
  const later = (a: bigint): number => sites.filter((b) => b !== a && objReach(g, g.succ.get(a) ?? []).has(b)).length;
  return { sites: sites.sort((a, b) => later(a) - later(b)) };
}

/** Decoder vs objdump on every reachable instruction: lengths, text, branch targets. */
function compareReachable(name: string, reachable: Instruction[], base: bigint, code: Map<bigint, ObjInsn>): string[] {
  const problems: string[] = [];
  for (const insn of reachable) {
    const addr = base + BigInt(insn.offset);
    const ref = code.get(addr);
    const where = `${name}+${insn.offset}`;
    if (!ref) problems.push(`${where}: objdump has no instruction boundary here (decoder: ${insn.text})`);
    else if (ref.length !== insn.length) problems.push(`${where}: length ${insn.length} vs objdump ${ref.length} (${ref.text})`);
    else if (insn.target !== undefined) {
      if (ref.target !== base + BigInt(insn.target)) problems.push(`${where}: target of ${insn.text} vs objdump ${ref.text}`);
    } else if (insn.text !== ref.text) problems.push(`${where}: "${insn.text}" vs objdump "${ref.text}"`);
  }
  return problems;
}

/**
 * Check one placement against objdump: a 'uprobe' site must be the latest site objdump's view
 * allows; a fallback must quote an instruction at the offset objdump shows, and objdump's view
 * must not offer a site either unless the decoder refused the function outright.
 */
function crossCheck(file: string, p: ReturnPlacement, code: Map<bigint, ObjInsn>): string[] {
  const sym = readFunctionSymbols(file).get(p.symbol)!;
  const { sites, problem } = objSites(code, sym.vaddr, sym.vaddr + sym.size);
  const rel = (a: bigint): string => `+${a - sym.vaddr}`;
  if (p.kind === 'uprobe') {
    const site = sym.vaddr + BigInt(p.delta);
    if (problem) return [`${p.symbol}: decoder chose +${p.delta} but objdump's view refuses the function: ${problem}`];
    if (!sites.includes(site)) {
      const g = objCfg(code, sym.vaddr, sym.vaddr + sym.size);
      return [`${p.symbol}+${p.delta}: not a return site per objdump: ${objSiteProblem(code, g, sym.vaddr, site)}`];
    }
    if (sites[0] !== site) return [`${p.symbol}: objdump's latest site is ${rel(sites[0])}, decoder chose +${p.delta}`];
    if (p.fileOffset !== sym.fileOffset + BigInt(p.delta)) return [`${p.symbol}: file offset ${p.fileOffset} is not entry + delta`];
    return [];
  }
  const out: string[] = [];
  if (p.delta !== 0 || p.fileOffset !== sym.fileOffset) out.push(`${p.symbol}: fallback is not at the entry`);
  for (const m of p.reason.matchAll(/\+(\d+) `([^`]+)`/g)) {
    const ref = code.get(sym.vaddr + BigInt(m[1]));
    if (!ref) out.push(`${p.symbol}: reason names +${m[1]}, where objdump has no instruction`);
    else if (!/</.test(m[2]) && ref.text !== m[2]) out.push(`${p.symbol}: reason quotes +${m[1]} \`${m[2]}\`, objdump shows \`${ref.text}\``);
  }
  if (sites.length && !/cannot decode|more than \d+ reachable/.test(p.reason)) {
    out.push(`${p.symbol}: fell back (${p.reason}) but objdump's view allows ${sites.map(rel).join(', ')}`);
  }
  return out;
}

// ---- libssl.so.3 ---------------------------------------------------------------------

function buildId(file: string): string {
  const notes = run(requireTool('readelf', 'binutils'), ['-n', file]);
  return /Build ID: ([0-9a-f]+)/.exec(notes)?.[1] ?? '(no build id)';
}

describe('return sites in this machine libssl.so.3', () => {
  it('SSL_read, SSL_write: `jne` at +56 (the stack-protector check) reads the return value; entry at +22 `js`', () => {
    requireFile(LIBSSL, 'OpenSSL 3 (libssl3)');
    const gdb = requireTool('gdb', 'gdb');
    const sites = placeSslProbes(LIBSSL, ['SSL_read', 'SSL_write']);
    for (const name of ['SSL_read', 'SSL_write']) {
      // The offsets below are this build's (FACTS.md). Another build must fail here, saying so.
      const shown = run(gdb, ['-batch', '-ex', `x/i ${name}+22`, '-ex', `x/i ${name}+30`, '-ex', `x/i ${name}+56`, '-ex', `x/i ${name}+70`, LIBSSL]);
      const lines = shown.trim().split('\n');
      const expect = [/\+22>:\s+js\s/, /\+30>:\s+call\s/, /\+56>:\s+jne\s/, /\+70>:\s+ret/];
      const fine = expect.every((re, k) => re.test(lines[k] ?? ''));
      assert.ok(
        fine,
        `${LIBSSL} (build id ${buildId(LIBSSL)}) is not the build FACTS.md describes: expected js at ${name}+22, call at +30, ` +
          `jne at +56 and ret at +70, gdb shows:\n${shown}\nRe-derive the expected sites for this build instead of trusting these numbers.`,
      );
      const s = sites.get(name);
      assert.ok(s && !(s instanceof ElfError), `${name}: ${s instanceof Error ? s.message : 'missing'}`);
      const entrySym = readFunctionSymbols(LIBSSL).get(name)!;
      assert.equal(s.ret.kind, 'uprobe', `${name}: ${s.ret.reason}`);
      assert.equal(s.ret.delta, 56, `${name}: ${s.ret.reason}`);
      assert.equal(s.ret.instruction, 'jne rel8');
      assert.equal(s.ret.emulated, true);
      assert.equal(s.ret.fileOffset, entrySym.fileOffset + 56n);
      assert.match(s.ret.reason, /\+126 `call <[^>]+>` does not return \(it is the last instruction of the function\)/);
      assert.equal(s.entry.delta, 22, `${name} entry: ${s.entry.reason}`);
      assert.equal(s.entry.instruction, 'js rel8');
      const code = objdumpWhole(LIBSSL);
      assert.deepEqual(crossCheck(LIBSSL, s.ret, code), []);
      // objdump agrees the +126 call is __stack_chk_fail and the function's last instruction
      const call = code.get(entrySym.vaddr + 126n)!;
      assert.equal(call.mnemonic, 'call');
      assert.equal(call.addr + BigInt(call.length), entrySym.vaddr + entrySym.size);
      const raw = run(requireTool('objdump', 'binutils'), [
        '-d', `--start-address=0x${call.addr.toString(16)}`, `--stop-address=0x${(call.addr + 5n).toString(16)}`, LIBSSL,
      ]);
      assert.match(raw, /__stack_chk_fail/, `${name}+126 does not call __stack_chk_fail:\n${raw}`);
    }
  });

  it('SSL_read_ex, SSL_write_ex: no site (`cmovs` writes %eax after the only emulated instruction): uretprobe', () => {
    const sites = placeSslProbes(LIBSSL, ['SSL_read_ex', 'SSL_write_ex']);
    const code = objdumpWhole(LIBSSL);
    for (const name of ['SSL_read_ex', 'SSL_write_ex']) {
      const s = sites.get(name) as SslProbeSites;
      assert.ok(s && !(s instanceof ElfError), name);
      const sym = readFunctionSymbols(LIBSSL).get(name)!;
      const texts: string[] = [];
      for (let a = sym.vaddr; a < sym.vaddr + sym.size; a += BigInt(code.get(a)!.length)) texts.push(code.get(a)!.mnemonic);
      assert.deepEqual(
        texts,
        ['sub', 'call', 'xor', 'test', 'cmovs', 'add', 'xor', 'xor', 'xor', 'xor', 'ret'],
        `${name} in ${LIBSSL} (build id ${buildId(LIBSSL)}) is not the shape FACTS.md describes`,
      );
      assert.equal(s.ret.kind, 'uretprobe');
      assert.equal(s.ret.delta, 0);
      assert.equal(s.ret.fileOffset, sym.fileOffset);
      assert.equal(s.ret.instruction, 'sub $0x8,%rsp');
      assert.equal(s.ret.emulated, false);
      assert.match(s.ret.reason, /\+4 `call <[^>]+>`.*\+13 `cmovs %edx,%eax` writes %rax/);
      assert.deepEqual(crossCheck(LIBSSL, s.ret, code), []);
      assert.equal(s.entry.delta, 4, `${name} entry: ${s.entry.reason}`);
    }
  });

  it('every site found in libssl passes the objdump re-walk; every reachable instruction decodes as objdump shows', (t) => {
    const code = objdumpWhole(LIBSSL);
    const problems: string[] = [];
    const seen = new Set<bigint>();
    let fns = 0;
    let decoded = 0;
    const found: string[] = [];
    let missed = 0;
    for (const s of readFunctionSymbols(LIBSSL).values()) {
      if (seen.has(s.vaddr) || s.size === 0n) continue;
      seen.add(s.vaddr);
      fns++;
      const plan = planReturnSite(readCodeAt(LIBSSL, s.fileOffset, Number(s.size)));
      decoded += plan.reachable.length;
      problems.push(...compareReachable(s.name, plan.reachable, s.vaddr, code));
      const p: ReturnPlacement = {
        symbol: s.name, path: LIBSSL, kind: plan.kind, fileOffset: s.fileOffset + BigInt(plan.delta),
        delta: plan.delta, instruction: plan.instruction, emulated: plan.emulated, reason: plan.reason,
      };
      if (plan.kind === 'uprobe') found.push(`${s.name}+${plan.delta}`);
      const c = crossCheck(LIBSSL, p, code);
      if (plan.kind === 'uprobe') problems.push(...c);
      else if (c.length) missed++; // objdump's looser view (e.g. past a lock prefix) would allow a site
    }
    t.diagnostic(`${fns} functions, ${decoded} reachable instructions compared, return sites: ${found.join(', ')}`);
    t.diagnostic(`${missed} fallbacks where objdump's view alone would allow a site or the reason quotes differently`);
    assert.deepEqual(problems.slice(0, 20), []);
    assert.ok(found.includes('SSL_read+56') && found.includes('SSL_write+56'));
  });

  it('names a missing function instead of throwing', () => {
    const m = placeSslProbes(LIBSSL, ['SSL_read', 'SSL_no_such_function']);
    const e = m.get('SSL_no_such_function');
    assert.ok(e instanceof ElfError && e.code === 'ENOSYM');
    assert.ok(!(m.get('SSL_read') instanceof ElfError));
    assert.throws(() => placeReturnProbe(LIBSSL, 'SSL_no_such_function'), (x: unknown) => x instanceof ElfError && x.code === 'ENOSYM');
  });
});

// ---- node (static OpenSSL) -----------------------------------------------------------------

describe('return sites in this machine node (static OpenSSL)', () => {
  it('SSL_read, SSL_write, SSL_read_ex, SSL_write_ex: sites pass the objdump re-walk, fallbacks say why', (t) => {
    requireFile(NODE, 'node');
    const sites = placeSslProbes(NODE, SSL_FNS);
    const syms = readFunctionSymbols(NODE);
    for (const fn of SSL_FNS) {
      const s = sites.get(fn);
      assert.ok(s && !(s instanceof ElfError), `${fn}: ${s instanceof Error ? s.message : 'missing'}`);
      const sym = syms.get(fn)!;
      const code = objdumpRange(NODE, sym.vaddr, sym.vaddr + sym.size);
      t.diagnostic(`${fn}: entry +${s.entry.delta} ${s.entry.instruction}; return: ${s.ret.kind} +${s.ret.delta} ${s.ret.instruction} — ${s.ret.reason}`);
      const { sites: objSitesFound } = objSites(code, sym.vaddr, sym.vaddr + sym.size);
      t.diagnostic(`${fn}: objdump's view allows ${objSitesFound.length ? objSitesFound.map((a) => `+${a - sym.vaddr}`).join(', ') : 'no site'}`);
      const reachable = planReturnSite(readCodeAt(NODE, sym.fileOffset, Number(sym.size))).reachable;
      assert.deepEqual(compareReachable(fn, reachable, sym.vaddr, code), []);
      assert.deepEqual(crossCheck(NODE, s.ret, code), []);
      if (s.ret.kind === 'uretprobe') {
        assert.match(s.ret.reason, /\+\d+ `[^`]+`/, `${fn}: the fallback reason names no instruction: ${s.ret.reason}`);
        assert.match(s.ret.reason, /falling back to a uretprobe at the entry/);
      }
    }
  });
});

// ---- synthetic functions ----------------------------------------------------------------------

const SYNTH_ASM = String.raw`
.text
.macro FN name
  .type \name,@function
\name:
.endm
/* two rets, both after one common jcc: the jne is the site */
FN rs_tworets
  lea 1(%rdi),%eax
  cmp $10,%edi
  jne 1f
  xor %edx,%edx
  ret
1: xor %ecx,%ecx
  ret
.size rs_tworets, .-rs_tworets
/* the only candidate is on a loop */
FN rs_loop
  xor %eax,%eax
1: add %edi,%eax
  sub $1,%edi
  jg 1b
  ret
.size rs_loop, .-rs_loop
/* every path passes the js, but one writes %eax after it */
FN rs_write_after
  mov %edi,%eax
  test %edi,%edi
  js 1f
  ret
1: mov $-1,%eax
  ret
.size rs_write_after, .-rs_write_after
/* a tail call */
FN rs_tail
  test %edi,%edi
  je 1f
  jmp rs_tworets
1: xor %eax,%eax
  ret
.size rs_tail, .-rs_tail
/* an indirect jump */
FN rs_indirect
  mov (%rdi),%rax
  test %rax,%rax
  je 1f
  jmp *%rax
1: ret
.size rs_indirect, .-rs_indirect
/* SSL_read's shape: the canary check's jne, its taken edge a call that does not return (last) */
FN rs_canary
  sub $0x18,%rsp
  mov %fs:0x28,%rax
  mov %rax,0x8(%rsp)
  xor %eax,%eax
  lea 2(%rdi),%eax
  mov 0x8(%rsp),%rdx
  sub %fs:0x28,%rdx
  jne 1f
  add $0x18,%rsp
  ret
1: call abort
.size rs_canary, .-rs_canary
/* the same with padding after the call */
FN rs_canary_pad
  sub $0x18,%rsp
  lea 2(%rdi),%eax
  mov 0x8(%rsp),%rdx
  sub %fs:0x28,%rdx
  jne 1f
  add $0x18,%rsp
  ret
1: call abort
  int3
  nopl 0x0(%rax)
.size rs_canary_pad, .-rs_canary_pad
/* a call followed by more code is taken to return: here into a write of %eax */
FN rs_call_mid
  sub $0x18,%rsp
  lea 2(%rdi),%eax
  test %edi,%edi
  jne 1f
  add $0x18,%rsp
  ret
1: call abort
  mov $7,%eax
  add $0x18,%rsp
  ret
.size rs_call_mid, .-rs_call_mid
/* falls off its end */
FN rs_fallsoff
  test %edi,%edi
  je 1f
  xor %eax,%eax
  ret
1: mov $1,%eax
.size rs_fallsoff, .-rs_fallsoff
/* never returns */
FN rs_noret
  push %rbx
  call abort
.size rs_noret, .-rs_noret
.section .note.GNU-stack,"",@progbits
`;

const synth = { dir: '', exe: '' };

before(() => {
  synth.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'return-site-'));
  fs.writeFileSync(path.join(synth.dir, 'fns.s'), SYNTH_ASM);
  fs.writeFileSync(path.join(synth.dir, 'main.c'), 'int main(void) { return 0; }\n');
  synth.exe = path.join(synth.dir, 'synth');
  run(requireTool('gcc', 'gcc'), ['-O1', '-no-pie', '-o', synth.exe, path.join(synth.dir, 'main.c'), path.join(synth.dir, 'fns.s')]);
});

after(() => {
  if (synth.dir) fs.rmSync(synth.dir, { recursive: true, force: true });
});

describe('planReturnSite on synthetic functions', () => {
  const place = (name: string, opts = {}): ReturnPlacement => placeReturnProbe(synth.exe, name, opts);

  it('accepts the common jcc before two rets', () => {
    const p = place('rs_tworets');
    assert.equal(p.kind, 'uprobe', p.reason);
    assert.equal(p.delta, 6);
    assert.equal(p.instruction, 'jne rel8');
    assert.match(p.reason, /the rets \(\+10, \+13\)/);
  });

  it('rejects a candidate on a loop', () => {
    const p = place('rs_loop');
    assert.equal(p.kind, 'uretprobe');
    assert.match(p.reason, /\+7 `jg <\+2>`, but on a loop/);
  });

  it('rejects a candidate when a path writes %eax after it', () => {
    const p = place('rs_write_after');
    assert.equal(p.kind, 'uretprobe');
    assert.match(p.reason, /\+4 `js <\+7>`, but \+7 `mov \$0xffffffff,%eax` writes %rax/);
    // a probe reading another register is fine there
    const q = place('rs_write_after', { returnReg: 'edx' });
    assert.equal(q.kind, 'uprobe', q.reason);
    assert.equal(q.delta, 4);
    assert.throws(() => place('rs_write_after', { returnReg: 'xmm0' }), /unknown register name/);
  });

  it('falls back on a tail call and on an indirect jump', () => {
    const t = place('rs_tail');
    assert.equal(t.kind, 'uretprobe');
    assert.match(t.reason, /\+4 `jmp <-\d+>` jumps outside the function \(a tail call/);
    const i = place('rs_indirect');
    assert.equal(i.kind, 'uretprobe');
    assert.match(i.reason, /`jmp \*%rax` is an indirect jump/);
  });

  it('treats a final call (or one followed only by padding) as not returning: the canary shape works', () => {
    const c = place('rs_canary');
    assert.equal(c.kind, 'uprobe', c.reason);
    assert.equal(c.instruction, 'jne rel8');
    assert.equal(c.delta, 37);
    assert.match(c.reason, /does not return \(it is the last instruction of the function\)/);
    const p = place('rs_canary_pad');
    assert.equal(p.kind, 'uprobe', p.reason);
    assert.equal(p.delta, 21);
    assert.match(p.reason, /only padding \(int3, nopl\) follows it/);
    // a call followed by reachable code returns into it: here into a write of %eax
    const m = place('rs_call_mid');
    assert.equal(m.kind, 'uretprobe');
    assert.match(m.reason, /\+21 `mov \$0x7,%eax` writes %rax/);
  });

  it('falls back on code running off the end, on no ret, on a branch into an instruction, on unknown bytes', () => {
    assert.match(place('rs_fallsoff').reason, /`mov \$0x1,%eax` falls through past the end of the function/);
    assert.match(place('rs_noret').reason, /no ret is reachable/);
    // eb ff: jmp to +1, the middle of itself; ff c3 there decodes as `inc %ebx`
    const overlap = planReturnSite(Uint8Array.from([0xeb, 0xff, 0xc3, 0xc3]));
    assert.equal(overlap.kind, 'uretprobe');
    assert.match(overlap.reason, /\+1 is reached but lies inside the instruction \+0 `jmp <\+1>`/);
    // 48 85 ff: test %rdi,%rdi; 74 01: je +6; c3: ret; c5 f8 77: vzeroupper (not in the decoder's subset)
    const unknown = planReturnSite(Uint8Array.from([0x48, 0x85, 0xff, 0x74, 0x01, 0xc3, 0xc5, 0xf8, 0x77, 0xc3]));
    assert.equal(unknown.kind, 'uretprobe');
    assert.match(unknown.reason, /cannot decode the instruction at \+6: opcode c5/);
    assert.equal(planReturnSite(new Uint8Array(0)).kind, 'uretprobe');
  });

  it('decodes the synthetic functions as objdump does, and objdump agrees with each verdict', () => {
    const code = objdumpWhole(synth.exe);
    for (const s of readFunctionSymbols(synth.exe).values()) {
      if (!s.name.startsWith('rs_')) continue;
      const plan = planReturnSite(readCodeAt(synth.exe, s.fileOffset, Number(s.size)));
      assert.deepEqual(compareReachable(s.name, plan.reachable, s.vaddr, code), []);
      assert.deepEqual(crossCheck(synth.exe, place(s.name), code), []);
    }
  });
});

// ---- runtime: gdb stops at the chosen site and %rax is what the function returns --------------------

const F_C = String.raw`
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int f(int x) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d", x);
  if (x < 0) return -n;
  int s = 0;
  for (int i = 0; i < n; i++) s = s * 3 + buf[i];
  return s ^ x;
}
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) { int x = atoi(argv[i]); printf("f=%d\n", f(x)); }
  return 0;
}
`;

/* SSL_read/SSL_write of the machine's libssl, on paths that need no peer: num < 0, and no BIO. */
const SSL_C = String.raw`
#include <stdio.h>
void *TLS_method(void);
void *SSL_CTX_new(const void *);
void *SSL_new(void *);
void SSL_set_connect_state(void *);
int SSL_read(void *, void *, int);
int SSL_write(void *, const void *, int);
int main(void) {
  static char buf[64];
  void *ssl = SSL_new(SSL_CTX_new(TLS_method()));
  SSL_set_connect_state(ssl);
  printf("f=%d\n", SSL_read(ssl, buf, -1));
  printf("f=%d\n", SSL_write(ssl, buf, -1));
  printf("f=%d\n", SSL_read(ssl, buf, sizeof buf));
  printf("f=%d\n", SSL_write(ssl, buf, sizeof buf));
  return 0;
}
`;

/** Run `exe` under gdb with a breakpoint at each `where`, printing (int)$rax at every hit. */
function raxAtSites(exe: string, wheres: string[], args: string[], afterMain: boolean): { hits: number[]; returned: number[] } {
  const script = ['set pagination off', 'set confirm off'];
  if (afterMain) script.push('break main', `run ${args.join(' ')}`); // libraries are mapped by then
  for (const w of wheres) script.push(`break *${w}`, 'commands', 'silent', 'printf "site rax=%d\\n", (int)$rax', 'continue', 'end');
  script.push(afterMain ? 'continue' : `run ${args.join(' ')}`);
  const file = path.join(synth.dir, `gdb-${path.basename(exe)}.gdb`);
  fs.writeFileSync(file, script.join('\n') + '\n');
  const out = run(requireTool('gdb', 'gdb'), ['-batch', '-x', file, exe]);
  const hits = [...out.matchAll(/^site rax=(-?\d+)$/gm)].map((m) => Number(m[1]));
  const returned = [...out.matchAll(/^f=(-?\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(/exited normally/.test(out), `the program did not exit normally under gdb:\n${out}`);
  return { hits, returned };
}

describe('sweepRets: every ret of a function whose code holds only instructions (Go)', () => {
  const code = (...b: number[]) => Uint8Array.from(b);
  it('finds each ret, those no jump reaches included, and none inside another instruction', () => {
    // mov %rax,%rdi; je +1; ret; ret (after the jump target: reached only by a runtime resume); mov $0xc3,%eax; ret
    const c = code(0x48, 0x89, 0xc7, 0x74, 0x01, 0xc3, 0xc3, 0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3);
    assert.deepEqual(sweepRets(c, { emulatesNopl: true }), { rets: [5, 6, 12] });
  });
  it('refuses, with the reason, code it cannot decode or without a ret', () => {
    const bad = sweepRets(code(0x48, 0x89, 0xc7, 0x0f, 0x0d, 0x00), { emulatesNopl: true });
    assert.ok('refusal' in bad && /cannot decode the instruction at \+3/.test(bad.refusal), JSON.stringify(bad));
    assert.deepEqual(sweepRets(code(0x90, 0x90), { emulatesNopl: true }), { refusal: 'the function has no ret' });
    assert.deepEqual(sweepRets(code(), { emulatesNopl: true }), { refusal: 'no code' });
    // An instruction running past the end of the function's bytes is not a ret found.
    assert.ok('refusal' in sweepRets(code(0xc3, 0xb8, 0xc3), { emulatesNopl: true }));
  });
});

describe("malloc's ret sites in this machine's libc (memleak's mallocProbe 'returns')", () => {
  it('are every ret objdump shows between malloc and its end, as file offsets', () => {
    const libc = '/usr/lib/x86_64-linux-gnu/libc.so.6';
    requireFile(libc, 'libc6');
    const sym = /^([0-9a-f]+) ([0-9a-f]+) T malloc@@/m.exec(run(requireTool('nm', 'binutils'), ['-D', '-S', libc]));
    assert.ok(sym, 'no malloc in nm -D -S');
    const [start, size] = [BigInt(`0x${sym[1]}`), BigInt(`0x${sym[2]}`)];
    const dis = run(requireTool('objdump', 'binutils'), ['-d', '--no-show-raw-insn', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${(start + size).toString(16)}`, libc]);
    const rets = [...dis.matchAll(/^\s*([0-9a-f]+):\s+ret\b/gm)].map((m) => BigInt(`0x${m[1]}`));
    const probes = placeAllocatorProbes(libc, { mallocReturns: true });
    assert.equal(probes.mallocReturnsRefused, undefined);
    assert.equal(placeAllocatorProbes(libc).mallocReturns, undefined, 'not walked unless asked for');
    // libc's code is mapped at its file offsets, so objdump's addresses are the offsets.
    assert.deepEqual(probes.mallocReturns, rets);
  });
});

describe('runtime check with gdb', () => {
  it('f() built -O2 -fstack-protector-all: the site is hit once per call with the return value in %eax', (t) => {
    const src = path.join(synth.dir, 'f.c');
    const exe = path.join(synth.dir, 'f');
    fs.writeFileSync(src, F_C);
    run(requireTool('gcc', 'gcc'), ['-O2', '-fstack-protector-all', '-no-pie', '-o', exe, src]);
    const p = placeReturnProbe(exe, 'f');
    assert.equal(p.kind, 'uprobe', p.reason);
    assert.match(p.instruction, /^jne rel(8|32)$/, `expected the canary check, got ${p.instruction}: ${p.reason}`);
    assert.deepEqual(crossCheck(exe, p, objdumpWhole(exe)), []);
    const vaddr = readFunctionSymbols(exe).get('f')!.vaddr + BigInt(p.delta);
    const args = ['5', '-7', '123', '0', '-100000', '2147483647'];
    const { hits, returned } = raxAtSites(exe, [`0x${vaddr.toString(16)}`], args, false);
    assert.equal(returned.length, args.length);
    assert.deepEqual(hits, returned, `f+${p.delta}: %eax at the site vs what f returned`);
    t.diagnostic(`f+${p.delta} (${p.instruction}): %eax at each hit ${hits.join(', ')}; f returned ${returned.join(', ')}`);
  });

  it('libssl SSL_read/SSL_write: %eax at +56 is what they return', (t) => {
    const src = path.join(synth.dir, 'ssl.c');
    const exe = path.join(synth.dir, 'ssl');
    fs.writeFileSync(src, SSL_C);
    run(requireTool('gcc', 'gcc'), ['-O1', '-o', exe, src, LIBSSL]);
    const r = placeReturnProbe(LIBSSL, 'SSL_read');
    const w = placeReturnProbe(LIBSSL, 'SSL_write');
    assert.equal(r.kind, 'uprobe', r.reason);
    assert.equal(w.kind, 'uprobe', w.reason);
    const { hits, returned } = raxAtSites(exe, [`SSL_read+${r.delta}`, `SSL_write+${w.delta}`], [], true);
    assert.equal(returned.length, 4);
    assert.deepEqual(hits, returned);
    t.diagnostic(`SSL_read+${r.delta}, SSL_write+${w.delta}: %eax at each hit ${hits.join(', ')}; returned ${returned.join(', ')}`);
  });
});
