/**
 * Where to read a function's return value without a uretprobe and without single-stepping.
 *
 * A uretprobe works only at the entry: the kernel swaps the return address on the stack, and its
 * entry half is a uprobe on the first instruction, single-stepped when that is a `sub`/`mov`.
 * A plain uprobe on an instruction the kernel emulates (jcc/jmp rel, `push`, nop) that every
 * returning path crosses after the return value is final reads the same %rax for a fraction of
 * the cost. In libssl.so.3 `SSL_read` ends with the stack-protector check
 * `sub %fs:0x28,%rdx; jne <__stack_chk_fail>` with the result already in %eax: the `jne` is such
 * a site.
 *
 * `planReturnSite` proves a site on the code of the whole function or refuses: it decodes every
 * instruction reachable from the entry with x86-decode.ts's decoder and checks, on that graph,
 * that the site is emulated, lies on every path from the entry to every `ret`, is on no loop, and
 * that nothing from it to a `ret` writes the return register (a call counts as a write: %rax is
 * caller-saved). Anything the proof cannot see through (a tail call, an indirect jump, an
 * encoding the decoder does not know, a branch into the middle of an instruction, code falling off
 * the end) makes it fall back to a uretprobe at the entry, with the reason.
 */
import { decodeInstruction } from './x86-decode';
import { canonicalRegister, type DecodeOptions, type Gpr, type Instruction, kernelEmulatesNopl } from './x86-isa';
import { requireFunctionSymbol, type ElfSymbol } from '../lib/elf';
import { type PlacementOptions, readCodeAt } from './entry-site';

export type ReturnProbeKind = 'uprobe' | 'uretprobe';

export interface ReturnPlacement {
  symbol: string;
  path: string;
  /** 'uprobe': a plain uprobe at `fileOffset` reads the return value; 'uretprobe': the fallback, `fileOffset` is the entry */
  kind: ReturnProbeKind;
  fileOffset: bigint;
  /** bytes past the function entry (0 for the fallback) */
  delta: number;
  /** the instruction at the site, e.g. "jne rel8" (for the fallback: the entry instruction) */
  instruction: string;
  /** the kernel emulates the probed instruction (for the fallback: the entry instruction) */
  emulated: boolean;
  /** why this site, or why the fallback (naming the instruction that broke the proof) */
  reason: string;
}

export interface ReturnSiteOptions extends PlacementOptions {
  /** the register holding the return value at `ret` (default 'rax'; `eax`, `%rax` ... accepted) */
  returnReg?: string;
  /** refuse functions with more reachable instructions than this (default 20,000) */
  maxReachable?: number;
}

export interface ReturnSitePlan {
  delta: number;
  kind: ReturnProbeKind;
  instruction: string;
  emulated: boolean;
  reason: string;
  /** every instruction reachable from the entry, by offset (empty when the walk failed early) */
  reachable: Instruction[];
}

export const MAX_REACHABLE = 20_000; // default of ReturnSiteOptions.maxReachable
/** Registers a call may change (System V AMD64: caller-saved), besides %rsp. */
const CALL_CLOBBERS: ReadonlySet<Gpr> = new Set<Gpr>(['rax', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11']);

export function show(insn: Instruction): string {
  return `+${insn.offset} \`${insn.text}\``;
}

function isCall(insn: Instruction): boolean {
  return insn.kind === 'call' || (insn.kind === 'indirect' && insn.mnemonic === 'call');
}

/** Whether executing `insn` may change `reg` (a call: per the calling convention). */
export function mayWrite(insn: Instruction, reg: Gpr): boolean {
  if (insn.writes.includes(reg)) return true;
  return isCall(insn) && CALL_CLOBBERS.has(reg);
}

export interface Graph {
  insns: Map<number, Instruction>;
  succ: Map<number, number[]>;
  rets: number[];
  /** calls treated as not returning, with why */
  noreturn: Map<number, string>;
}

export class Refusal extends Error {}

/**
 * Every instruction reachable from offset 0, with control-flow edges. Throws Refusal with the
 * reason when the function leaves the proof's reach.
 */
export function buildGraph(code: Uint8Array, decodeOpts: DecodeOptions, maxReachable: number, neverReturns?: (call: Instruction) => string | undefined): Graph {
  const insns = new Map<number, Instruction>();
  const succ = new Map<number, number[]>();
  const rets: number[] = [];
  const noreturn = new Map<number, string>();
  const end = code.length;
  const inside = (t: number): boolean => t >= 0 && t < end;

  /** a call's fall-through is the end of the function, or only padding (nop, int3) up to it */
  const paddingToEnd = (from: number): string | undefined => {
    if (from >= end) return 'it is the last instruction of the function';
    const seen: string[] = [];
    for (let o = from; o < end; ) {
      const r = decodeInstruction(code, o, decodeOpts);
      if (!r.ok || (r.insn.kind !== 'nop' && r.insn.mnemonic !== 'int3')) return undefined;
      seen.push(r.insn.mnemonic);
      o += r.insn.length;
    }
    return `only padding (${[...new Set(seen)].join(', ')}) follows it to the end of the function`;
  };

  const work: number[] = [0];
  while (work.length) {
    const off = work.pop()!;
    if (insns.has(off)) continue;
    if (insns.size >= maxReachable) throw new Refusal(`more than ${maxReachable} reachable instructions`);
    const r = decodeInstruction(code, off, decodeOpts);
    if (!r.ok) throw new Refusal(`cannot decode the instruction at +${off}: ${r.reason}`);
    const insn = r.insn;
    insns.set(off, insn);
    const next = off + insn.length;
    const out: number[] = [];
    const fallThrough = (): void => {
      if (next >= end) {
        throw new Refusal(`${show(insn)} falls through past the end of the function (+${end})`);
      }
      out.push(next);
    };
    switch (insn.kind) {
      case 'ret':
        rets.push(off);
        break;
      case 'trap': // int3, ud2: the path ends without returning
        break;
      case 'jmp':
        if (!inside(insn.target!)) {
          throw new Refusal(`${show(insn)} jumps outside the function (a tail call: its return bypasses any site here)`);
        }
        out.push(insn.target!);
        break;
      case 'jcc':
        if (!inside(insn.target!)) {
          throw new Refusal(`${show(insn)} may jump outside the function (a conditional tail call)`);
        }
        out.push(insn.target!);
        fallThrough();
        break;
      case 'indirect':
      case 'call': {
        // an indirect call returns like a direct one; an indirect jump goes where the proof cannot follow
        if (insn.kind === 'indirect' && insn.mnemonic !== 'call') {
          throw new Refusal(`${show(insn)} is an indirect jump (its targets are unknown)`);
        }
        if (insn.kind === 'call' && inside(insn.target!)) {
          throw new Refusal(`${show(insn)} calls into the function's own body (not a plain call)`);
        }
        // A call the caller proved not to return (return-cover.ts), or one the function ends with.
        const why = (insn.kind === 'call' ? neverReturns?.(insn) : undefined) ?? paddingToEnd(next);
        if (why !== undefined) {
          // A compiler ends a function with a call only when the callee does not return
          // (__stack_chk_fail, abort): otherwise the next function's code would run.
          noreturn.set(off, why);
          break;
        }
        out.push(next);
        break;
      }
      default:
        fallThrough();
    }
    succ.set(off, out);
    for (const t of out) work.push(t);
  }

  // A branch into the middle of a decoded instruction means two overlapping instruction streams.
  const sorted = [...insns.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.length) {
      throw new Refusal(`+${sorted[i].offset} is reached but lies inside the instruction ${show(prev)} (overlapping code)`);
    }
  }
  return { insns, succ, rets: rets.sort((a, b) => a - b), noreturn };
}

/** Offsets reachable from `from` (included) without passing `blocked`. */
export function reach(g: Graph, from: number[], blocked?: number): Set<number> {
  const seen = new Set<number>();
  const stack = from.filter((o) => o !== blocked);
  while (stack.length) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const t of g.succ.get(o) ?? []) if (t !== blocked && !seen.has(t)) stack.push(t);
  }
  return seen;
}

function predecessors(g: Graph): Map<number, number[]> {
  const pred = new Map<number, number[]>();
  for (const [o, outs] of g.succ) for (const t of outs) (pred.get(t) ?? pred.set(t, []).get(t)!).push(o);
  return pred;
}

/** Offsets from which a ret is reachable. */
export function canReachRet(g: Graph): Set<number> {
  const pred = predecessors(g);
  const seen = new Set<number>();
  const stack = [...g.rets];
  while (stack.length) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const p of pred.get(o) ?? []) if (!seen.has(p)) stack.push(p);
  }
  return seen;
}

/**
 * Of `writers`, those a ret is reachable from without passing another writer (walking back from
 * the rets within `region`), by offset.
 */
function lastWriters(g: Graph, writers: Set<number>, region: Set<number>): Instruction[] {
  const pred = predecessors(g);
  const found = new Set<number>();
  const seen = new Set<number>();
  const stack = g.rets.filter((r) => region.has(r));
  while (stack.length) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    if (writers.has(o)) {
      found.add(o);
      continue;
    }
    for (const p of pred.get(o) ?? []) if (region.has(p) && !seen.has(p)) stack.push(p);
  }
  return [...found].sort((a, b) => a - b).map((o) => g.insns.get(o)!);
}

interface Verdict {
  insn: Instruction;
  ok: boolean;
  /** passed (2): lies on every path from the entry to every ret */
  onEveryPath: boolean;
  /** for a rejection: the broken property, naming the instruction/offset */
  why: string;
  /** on the way from the site to a ret (accepted sites only) */
  between: Instruction[];
}

function judge(g: Graph, s: Instruction, reg: Gpr, toRet: Set<number>): Verdict {
  let onEveryPath = false;
  const rej = (why: string): Verdict => ({ insn: s, ok: false, onEveryPath, why, between: [] });
  // (2) on every path from the entry to every ret
  if (s.offset !== 0) {
    const around = reach(g, [0], s.offset);
    const ret = g.rets.find((r) => around.has(r));
    if (ret !== undefined) return rej(`not on every path: the ret at +${ret} is reachable without passing it`);
  }
  onEveryPath = true;
  // (3) on no loop: not reachable again from its own successors
  const after = reach(g, g.succ.get(s.offset) ?? []);
  if (after.has(s.offset)) return rej('on a loop (reachable again from its own successors): it would fire more than once per call');
  // (4) nothing from it (itself included) to a ret writes the return register
  const onWay = [s.offset, ...after].filter((o) => toRet.has(o)).sort((a, b) => a - b);
  const writers = onWay.map((o) => g.insns.get(o)!).filter((i) => mayWrite(i, reg));
  if (writers.length) {
    // Name the writes a ret can follow with no other write between: what a later site must pass.
    const last = lastWriters(g, new Set(writers.map((i) => i.offset)), new Set(onWay));
    const named = last.slice(0, 3).map((i) => {
      const who = i.offset === s.offset ? `it (${show(i)})` : show(i);
      return `${who} ${isCall(i) ? `is a call (%${reg} is caller-saved)` : `writes %${reg}`}`;
    });
    const more = last.length > 3 ? ` and ${last.length - 3} more` : '';
    const all = writers.length > last.length ? `; ${writers.length} instructions write it between the site and a ret in all` : '';
    return rej(`${named.join(', ')}${more} after the site, last before a ret${all}`);
  }
  return { insn: s, ok: true, onEveryPath, why: '', between: onWay.filter((o) => o !== s.offset).map((o) => g.insns.get(o)!) };
}

/**
 * Verdicts of sites that lie on every path to the rets, latest first. Such sites dominate one
 * another in a chain: A comes before B when B cannot be reached from the entry without A.
 */
function latestFirst(g: Graph, onEveryPath: Verdict[]): Verdict[] {
  const depth = new Map<Verdict, number>();
  for (const a of onEveryPath) {
    const without = reach(g, [0], a.insn.offset);
    for (const b of onEveryPath) {
      if (b !== a && !without.has(b.insn.offset)) depth.set(b, (depth.get(b) ?? 0) + 1);
    }
  }
  return onEveryPath.slice().sort((x, y) => (depth.get(y) ?? 0) - (depth.get(x) ?? 0) || y.insn.offset - x.insn.offset);
}

/**
 * Plan a probe that reads the return value, on the machine code of one whole function (`code` is
 * [entry, entry + size) from the symbol table). Pure: no I/O.
 *
 * 'uprobe' at `delta`: an instruction the kernel emulates such that (1) it is probeable, (2) every
 * path from the entry to every reachable `ret` passes it, (3) it is on no cycle, so it fires once
 * per call, and (4) no instruction on any path from it (itself included) to a `ret` writes the
 * return register, a call counting as a write of every caller-saved register: the register holds
 * the return value when the probe fires. Among such sites the latest (closest to the rets) wins.
 *
 * A call that is the function's last instruction, or is followed only by nop/int3 padding, is
 * taken not to return (`call __stack_chk_fail`): paths into it never reach a `ret`, so it does not
 * break (2) or (4). The probe still fires on such a path before the call (the process then aborts).
 *
 * 'uretprobe' at delta 0 when no site qualifies or the function leaves the proof's reach (a jmp or
 * jcc outside the function = tail call, an indirect jump, an undecodable instruction, a branch
 * into another instruction, code falling off the end). `reason` names the instruction that broke it.
 *
 * Not checked: jumps into this function from code outside it (cold partitions jump back into
 * their function; they would also have to be walked). Compilers reach such code only through the
 * function's own jumps out, which already make the proof refuse.
 */
export function planReturnSite(code: Uint8Array, options: ReturnSiteOptions = {}): ReturnSitePlan {
  const reg = canonicalRegister(options.returnReg ?? 'rax');
  const decodeOpts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  const first = code.length ? decodeInstruction(code, 0, decodeOpts) : undefined;
  const entry = first?.ok ? first.insn : undefined;
  const fallback = (why: string, reachable: Instruction[] = []): ReturnSitePlan => {
    const head = entry ? `entry \`${entry.text}\` is ${entry.emulated ? 'emulated' : 'single-stepped'}` : 'entry not decoded';
    return {
      delta: 0,
      kind: 'uretprobe',
      instruction: entry ? (entry.form ?? entry.text) : '(unknown)',
      emulated: entry?.emulated ?? false,
      reason: `${why}; falling back to a uretprobe at the entry (${head})`,
      reachable,
    };
  };
  if (!code.length) return fallback('no code');

  let g: Graph;
  try {
    g = buildGraph(code, decodeOpts, options.maxReachable ?? MAX_REACHABLE);
  } catch (err) {
    if (err instanceof Refusal) return fallback(err.message);
    throw err;
  }
  const reachable = [...g.insns.values()].sort((a, b) => a.offset - b.offset);
  if (!g.rets.length) return fallback('no ret is reachable (the function never returns normally)', reachable);

  const toRet = canReachRet(g);
  const candidates = reachable.filter((i) => i.emulated && i.probeable);
  const verdicts = candidates.map((s) => judge(g, s, reg, toRet));
  const good = verdicts.filter((v) => v.ok);
  const rets = g.rets.map((r) => `+${r}`).join(', ');
  const theRets = `the ret${g.rets.length > 1 ? 's' : ''} (${rets})`;
  if (!good.length) {
    if (!candidates.length) return fallback('no reachable instruction is one the kernel emulates', reachable);
    // Report the candidates nearest the rets: they say best what keeps the value from being final.
    const parts: string[] = [];
    const onPath = latestFirst(g, verdicts.filter((v) => v.onEveryPath));
    if (onPath.length) parts.push(`the latest on every path to ${theRets} is ${show(onPath[0].insn)}, but ${onPath[0].why}`);
    if (onPath.length > 1) parts.push(`${onPath.length - 1} earlier emulated instruction${onPath.length > 2 ? 's' : ''} on every path, rejected likewise`);
    if (!onPath.length) parts.push(`no emulated instruction lies on every path from the entry to ${theRets}`);
    const offPath = verdicts.filter((v) => !v.onEveryPath);
    if (offPath.length) {
      const last = offPath[offPath.length - 1];
      parts.push(
        `${offPath.length} ${onPath.length ? 'other ' : ''}emulated instruction${offPath.length > 1 ? 's are' : ' is'} ` +
          `not on every path to ${theRets}, e.g. ${show(last.insn)} (${last.why.replace(/^not on every path: /, '')})`,
      );
    }
    return fallback(`no emulated instruction qualifies as a return site: ${parts.join('; ')}`, reachable);
  }
  const best = latestFirst(g, good)[0];
  const s = best.insn;
  const shown = best.between.slice(0, 8).map((i) => `\`${i.text}\``);
  if (best.between.length > 8) shown.push(`${best.between.length - 8} more`);
  const between = shown.length ? shown.join(', ') : 'nothing';
  const exits = [...g.noreturn]
    .filter(([o]) => reach(g, g.succ.get(s.offset) ?? []).has(o))
    .map(([o, why]) => `${show(g.insns.get(o)!)} does not return (${why})`);
  const exitNote = exits.length ? `; paths from it that do not return end in ${exits.join(', ')} — the probe fires on them too` : '';
  return {
    delta: s.offset,
    kind: 'uprobe',
    instruction: s.form ?? s.text,
    emulated: true,
    reason:
      `${show(s)} is emulated, lies on every path from the entry to ${theRets}, ` +
      `is on no loop, and nothing from it to a ret writes %${reg} (${between}): %${reg} holds the return value ` +
      `when it fires${exitNote}`,
    reachable,
  };
}

/**
 * Every `ret` reachable from the entry of one whole function's code, by the walk planReturnSite
 * makes, or why they cannot all be known (a jump out of the function, an indirect jump, an
 * undecodable instruction... could hide a return). Pure: no I/O.
 */
export function walkRets(code: Uint8Array, options: Pick<ReturnSiteOptions, 'emulatesNopl' | 'maxReachable'> = {}): { rets: number[] } | { refusal: string } {
  if (!code.length) return { refusal: 'no code' };
  try {
    const g = buildGraph(code, { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() }, options.maxReachable ?? MAX_REACHABLE);
    return g.rets.length ? { rets: g.rets } : { refusal: 'no ret is reachable (the function never returns normally)' };
  } catch (err) {
    if (err instanceof Refusal) return { refusal: err.message };
    throw err;
  }
}

/**
 * Every `ret` in one whole function's code, by a linear sweep from its entry to its end, or why the
 * sweep could not go through (an instruction the decoder does not know). Only for code that holds
 * nothing but instructions, as Go's compiler emits (a `ret` reached only when the runtime resumes a
 * recovered panic at the function's deferreturn is found too, where a walk of the jumps misses it).
 * Pure: no I/O.
 */
export function sweepRets(code: Uint8Array, options: Pick<ReturnSiteOptions, 'emulatesNopl'> = {}): { rets: number[] } | { refusal: string } {
  if (!code.length) return { refusal: 'no code' };
  const opts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  const rets: number[] = [];
  for (let o = 0; o < code.length; ) {
    const r = decodeInstruction(code, o, opts);
    if (!r.ok) return { refusal: `cannot decode the instruction at +${o}: ${r.reason}` };
    if (r.insn.kind === 'ret') rets.push(o);
    o += r.insn.length;
  }
  return rets.length ? { rets } : { refusal: 'the function has no ret' };
}

/** Largest function read whole for the proof. */
export const MAX_FUNCTION_BYTES = 1 << 20;

/** The symbol of `symbol` in `path` and its whole code, or why it cannot be walked. Throws ElfError. */
export function wholeFunction(path: string, symbol: string): { sym: ElfSymbol; code: Buffer } | { refusal: string } {
  const sym = requireFunctionSymbol(path, symbol);
  if (sym.type === 'ifunc') return { refusal: `${symbol} is an IFUNC (its symbol is the resolver)` };
  if (sym.size === 0n || sym.size > BigInt(MAX_FUNCTION_BYTES)) {
    return { refusal: `${symbol} has ${sym.size === 0n ? 'no size in the symbol table' : `${sym.size} bytes (over ${MAX_FUNCTION_BYTES})`}, so its code cannot be walked` };
  }
  return { sym, code: readCodeAt(path, sym.fileOffset, Number(sym.size)) };
}

/**
 * Every `ret` of `symbol` in `path`, as file offsets and as bytes past the entry, found by `how`
 * (walkRets: the code walk, for compiled C; sweepRets: a linear sweep, for Go), at most `maxRets`
 * of them; or why not. Throws ElfError for an unreadable file or a missing symbol.
 */
export function retSitesOf(
  path: string,
  symbol: string,
  how: 'walk' | 'sweep',
  maxRets: number,
  options: Pick<ReturnSiteOptions, 'emulatesNopl' | 'maxReachable'> = {},
): { rets: bigint[]; deltas: number[] } | { refusal: string } {
  const fn = wholeFunction(path, symbol);
  if ('refusal' in fn) return fn;
  const { sym, code } = fn;
  const plan = how === 'walk' ? walkRets(code, options) : sweepRets(code, options);
  if ('refusal' in plan) return plan;
  if (plan.rets.length > maxRets) return { refusal: `${plan.rets.length} ret sites, over the ${maxRets} one function may take` };
  return { rets: plan.rets.map((r) => sym.fileOffset + BigInt(r)), deltas: plan.rets };
}

/**
 * Where to read the return value of `symbol` in `path` (see `planReturnSite`): a plain uprobe on
 * an emulated return-path instruction, or a uretprobe at the entry with the reason.
 *
 * Throws ElfError for an unreadable file, a non-x86-64 ELF or a missing symbol.
 */
export function placeReturnProbe(path: string, symbol: string, options: ReturnSiteOptions = {}): ReturnPlacement {
  const sym = requireFunctionSymbol(path, symbol);
  const base = { symbol, path, kind: 'uretprobe' as const, fileOffset: sym.fileOffset, delta: 0 };
  if (sym.size === 0n || sym.size > BigInt(MAX_FUNCTION_BYTES)) {
    const entry = decodeInstruction(readCodeAt(path, sym.fileOffset, 16), 0, { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() });
    const size = sym.size === 0n ? 'no size in the symbol table' : `${sym.size} bytes (over ${MAX_FUNCTION_BYTES})`;
    return {
      ...base,
      instruction: entry.ok ? (entry.insn.form ?? entry.insn.text) : '(unknown)',
      emulated: entry.ok && entry.insn.emulated,
      reason: `${symbol} has ${size}, so its code cannot be walked; falling back to a uretprobe at the entry`,
    };
  }
  const code = readCodeAt(path, sym.fileOffset, Number(sym.size));
  const plan = planReturnSite(code, options);
  let reason = plan.reason;
  if (code.length < Number(sym.size)) reason = `only ${code.length} of ${sym.size} bytes could be read; ${reason}`;
  if (sym.type === 'ifunc') {
    reason += `; note: ${symbol} is an IFUNC, so this is its resolver (run once at load), not the implementation calls reach`;
  }
  return {
    ...base,
    kind: plan.kind,
    fileOffset: sym.fileOffset + BigInt(plan.delta),
    delta: plan.delta,
    instruction: plan.instruction,
    emulated: plan.emulated,
    reason,
  };
}
