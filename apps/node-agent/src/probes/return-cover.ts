/**
 * Where to read a function's return value with plain uprobes on emulated instructions when no single
 * site lies on every path to its `ret`s (return-site.ts's planReturnSite): a set of sites that every
 * returning path crosses exactly once, after the value is final.
 *
 * glibc's malloc is the case: its tcache path and its arena path reach the `ret`s by different ways,
 * and the instructions every path shares (`add $0x10,%rsp; pop ...; ret`) are single-stepped by the
 * kernel (~4× an emulated trap: bench/uprobe-traps.sh). Its tcache path has `test $0xf,%al; jne`
 * with the chunk already in %rax, its arena path `test $0x2,%dl; jne` after the inner call
 * returned. Both jumps lead, on their other side, to calls that never return (malloc_printerr,
 * __malloc_assert): static functions without a symbol in Debian's stripped libc, found through the
 * unwind table's function bounds (fde-bounds.ts) and proven never to return by walking their code.
 *
 * Its arena path also passes `__libc_message(do_abort, ...)` on an assertion's failure, a function
 * that returns for other actions: the proof cannot see that it does not return there, so that path's
 * `ret` keeps its own (single-stepped) probe, while the tcache path, the common one, gets its jump.
 *
 * `planReturnCover` proves such a set on the code of the whole function or refuses, with the reason:
 * an emulated site (1) is an instruction the kernel emulates and can probe, (2) is on no loop, (3)
 * has nothing on any path from it (itself included) to a `ret` that writes the return register (a
 * call counts as a write); the set is the first such instruction on each path from the entry, or
 * the `ret` where a path meets none (a forward walk that stops at sites), so (4) every path from the
 * entry to a `ret` crosses one, and (5) no site is reachable from another, so none crosses two. An
 * emulated site sits inside the function's frame: a stack taken there has the function itself as
 * its leaf frame.
 */
import { canonicalRegister, type DecodeOptions, type Instruction, kernelEmulatesNopl } from './x86-isa';
import { withElf, type ElfFile } from '../lib/elf';
import { functionBoundsAt } from '../lib/elf/fde-bounds';
import { readCodeAt } from './entry-site';
import { buildGraph, canReachRet, type Graph, MAX_FUNCTION_BYTES, MAX_REACHABLE, mayWrite, reach, Refusal, type ReturnSiteOptions, show, wholeFunction } from './return-site';

export interface ReturnCoverPlan {
  /** bytes past the entry of each site, ascending */
  deltas: number[];
  /** per site: a `ret` itself (single-stepped; the stack as the ret leaves it) rather than an emulated instruction inside the frame */
  atRet: boolean[];
  /** each site, e.g. "+343 `jne <+752>`" */
  sites: string[];
}

/** Whether a call (by its target, relative to the code given) never returns: the reason, or undefined. */
export type NeverReturns = (call: Instruction) => string | undefined;

/** Calls followed this deep into callees to prove they never return. */
const MAX_CALLEE_DEPTH = 3;

/** The sites (see the module comment), or why not. Pure: no I/O (neverReturns may read). */
export function planReturnCover(code: Uint8Array, maxSites: number, options: ReturnSiteOptions & { neverReturns?: NeverReturns } = {}): ReturnCoverPlan | { refusal: string } {
  const reg = canonicalRegister(options.returnReg ?? 'rax');
  const decodeOpts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  if (!code.length) return { refusal: 'no code' };
  let g: Graph;
  try {
    g = buildGraph(code, decodeOpts, options.maxReachable ?? MAX_REACHABLE, options.neverReturns);
  } catch (err) {
    if (err instanceof Refusal) return { refusal: err.message };
    throw err;
  }
  if (!g.rets.length) return { refusal: 'no ret is reachable (the function never returns normally)' };
  const toRet = canReachRet(g);

  // (1)-(3): the instructions that may be sites.
  const fit = new Set<number>();
  for (const insn of g.insns.values()) {
    if (!insn.emulated || !insn.probeable || !toRet.has(insn.offset)) continue;
    const after = reach(g, g.succ.get(insn.offset) ?? []);
    if (after.has(insn.offset)) continue;
    if ([insn.offset, ...after].some((o) => toRet.has(o) && mayWrite(g.insns.get(o)!, reg))) continue;
    fit.add(insn.offset);
  }

  // (4): the first fitting instruction on each path from the entry, or the ret itself where a path
  // reaches one first (a ret is single-stepped, but %rax is final there by definition).
  // (5): a fitting instruction from which another site is reachable is no site: the walk is made
  // again without it, until no site reaches another (at worst every site is a ret).
  for (;;) {
    const sites = new Set<number>();
    const seen = new Set<number>();
    const stack = [0];
    while (stack.length) {
      const o = stack.pop()!;
      if (seen.has(o)) continue;
      seen.add(o);
      if (fit.has(o) || g.rets.includes(o)) {
        sites.add(o);
        continue;
      }
      for (const t of g.succ.get(o) ?? []) if (!seen.has(t)) stack.push(t);
    }
    const crossing = [...sites].filter((o) => fit.has(o) && [...sites].some((t) => t !== o && reach(g, g.succ.get(o) ?? []).has(t)));
    if (crossing.length) {
      for (const o of crossing) fit.delete(o);
      continue;
    }
    if (sites.size > maxSites) return { refusal: `${sites.size} sites, over the ${maxSites} one function may take` };
    const deltas = [...sites].sort((a, b) => a - b);
    return { deltas, atRet: deltas.map((o) => g.rets.includes(o)), sites: deltas.map((o) => show(g.insns.get(o)!)) };
  }
}

/**
 * Calls of the function at file offset `base` whose callee, bounded by the unwind table, has no
 * reachable `ret` and no way out (jumps leaving it, indirect jumps) the walk cannot follow: such a
 * callee never returns. Its own calls are judged the same way, MAX_CALLEE_DEPTH deep.
 */
function neverReturnsIn(elf: ElfFile, path: string, base: bigint, decodeOpts: DecodeOptions, memo: Map<bigint, string | undefined>, depth: number): NeverReturns {
  return (call) => {
    if (call.target === undefined || depth <= 0) return undefined;
    const callee = base + BigInt(call.target);
    if (memo.has(callee)) return memo.get(callee);
    memo.set(callee, undefined); // a call back into a function being judged: taken to return
    const bounds = functionBoundsAt(elf, callee);
    let why: string | undefined;
    if (bounds && bounds.start === callee && bounds.end - bounds.start <= BigInt(MAX_FUNCTION_BYTES)) {
      const code = readCodeAt(path, bounds.start, Number(bounds.end - bounds.start));
      try {
        const g = buildGraph(code, decodeOpts, MAX_REACHABLE, neverReturnsIn(elf, path, callee, decodeOpts, memo, depth - 1));
        if (g.rets.length === 0 && code.length === Number(bounds.end - bounds.start)) {
          why = `its callee at file offset 0x${callee.toString(16)} (${code.length} bytes by the unwind table) has no reachable ret`;
        }
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
      }
    }
    memo.set(callee, why);
    return why;
  };
}

/**
 * The sites of `symbol` in `path` as file offsets, at most `maxSites`, or why not. Throws ElfError
 * for an unreadable file or a missing symbol.
 */
export function returnCoverOf(
  path: string,
  symbol: string,
  maxSites: number,
  options: ReturnSiteOptions = {},
): { offsets: bigint[]; deltas: number[]; atRet: boolean[]; sites: string[] } | { refusal: string } {
  const fn = wholeFunction(path, symbol);
  if ('refusal' in fn) return fn;
  const { sym, code } = fn;
  if (code.length < Number(sym.size)) return { refusal: `only ${code.length} of ${sym.size} bytes of ${symbol} could be read` };
  const decodeOpts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  const plan = withElf(path, { purpose: 'return-site proof' }, (elf) =>
    planReturnCover(code, maxSites, { ...options, neverReturns: neverReturnsIn(elf, path, sym.fileOffset, decodeOpts, new Map(), MAX_CALLEE_DEPTH) }),
  );
  if ('refusal' in plan) return plan;
  return { offsets: plan.deltas.map((d) => sym.fileOffset + BigInt(d)), deltas: plan.deltas, atRet: plan.atRet, sites: plan.sites };
}
