/**
 * Where every uprobe the agent attaches goes: the one owner of that decision for the allocator
 * (memleak) and the TLS functions (ssl-capture). Each function's BPF program reads certain argument
 * registers at entry and, for TLS, the return value; from those this file asks entry-site.ts for
 * the cheapest entry site that keeps them intact and return-site.ts for a return site that reads
 * %rax without a uretprobe. Runs take the file offsets from here and compute none themselves.
 */
import { ElfError, requireFunctionSymbol } from '../lib/elf';
import { type Placement, placeEntryProbe, type PlacementOptions, readCodeAt } from './entry-site';
import { placeReturnProbe, sweepRets, walkRets, type ReturnPlacement, type ReturnSiteOptions } from './return-site';

export type { Placement, PlacementOptions } from './entry-site';
export type { ReturnPlacement, ReturnSiteOptions } from './return-site';

// ---------------------------------------------------------------------------
// memleak: glibc's allocator
// ---------------------------------------------------------------------------

/** Registers memleak's free program reads at entry: the pointer freed. */
export const FREE_ENTRY_REGS = ['rdi'];

export interface AllocatorProbes {
  /** where free's entry probe goes (and why) */
  free: Placement;
  /**
   * Entry offsets the addon takes instead of the symbol's (native memleak `entryOffsets`); the
   * other allocator functions have return probes, which must sit on the entry, so the addon
   * places them at their symbols.
   */
  entryOffsets: { free: bigint };
  /**
   * malloc's ret sites (file offsets), every one the code walk reaches: a plain uprobe on each, no
   * entry probe (one trap per call), the size read from the chunk header. Absent when the walk cannot
   * prove it found them all (`mallocReturnsRefused` says why): malloc then has its entry probe and a
   * uretprobe.
   */
  mallocReturns?: bigint[];
  mallocReturnsRefused?: string;
}

/** Most ret sites malloc may take (the addon's bound). */
const MAX_MALLOC_RETS = 64;

/** The memleak probes of the libc at `libc` (a path the agent can open). Throws ElfError. */
export function placeAllocatorProbes(libc: string, options: PlacementOptions = {}): AllocatorProbes {
  const free = placeEntryProbe(libc, 'free', FREE_ENTRY_REGS, options);
  const malloc = requireFunctionSymbol(libc, 'malloc');
  let plan: ReturnType<typeof walkRets> = { refusal: `malloc has ${malloc.size === 0n ? 'no size in the symbol table' : `${malloc.size} bytes`}` };
  if (malloc.size > 0n && malloc.size <= BigInt(MAX_GO_FUNCTION_BYTES)) plan = walkRets(readCodeAt(libc, malloc.fileOffset, Number(malloc.size)), options);
  if ('rets' in plan && plan.rets.length > MAX_MALLOC_RETS) plan = { refusal: `${plan.rets.length} ret sites, over ${MAX_MALLOC_RETS}` };
  if (malloc.type === 'ifunc') plan = { refusal: 'malloc is an IFUNC (its symbol is the resolver)' };
  return {
    free,
    entryOffsets: { free: free.fileOffset },
    ...('rets' in plan ? { mallocReturns: plan.rets.map((r) => malloc.fileOffset + BigInt(r)) } : { mallocReturnsRefused: plan.refusal }),
  };
}

// ---------------------------------------------------------------------------
// ssl-capture: entry and return sites of SSL_read/SSL_write-like functions
// ---------------------------------------------------------------------------

export interface SslProbeSites {
  fn: string;
  /** reads ssl, buf, num (and the *_ex out-pointer) in %rdi, %rsi, %rdx, %rcx */
  entry: Placement;
  /** reads the return value in %rax */
  ret: ReturnPlacement;
  /** more return sites, file offsets (Go: every ret after the first) */
  moreReturns?: bigint[];
}

/** Registers Go's crypto/tls entry probe reads (register ABI): receiver, buffer, length, and %r14 = the goroutine. */
export const GO_TLS_ENTRY_REGS = ['rax', 'rbx', 'rcx', 'r14'];
/** Return sites one Go function may take (the addon's bound). */
const MAX_GO_RETS = 64;
const MAX_GO_FUNCTION_BYTES = 1 << 20;

export function isGoTlsFunction(fn: string): boolean {
  return fn.startsWith('crypto/tls.');
}

/**
 * A Go function: the entry site, and a plain uprobe on each of its `ret`s (return-site.ts's linear
 * sweep: Go's compiler puts no data in a function's code). A uretprobe is no fallback here: it rewrites the return address on a
 * goroutine stack the runtime may move or copy, which crashes the program; a function whose rets
 * cannot all be found is refused. Throws ElfError.
 */
function placeGoTlsProbes(path: string, fn: string, options: ReturnSiteOptions): SslProbeSites {
  const entry = placeEntryProbe(path, fn, GO_TLS_ENTRY_REGS, options);
  const sym = requireFunctionSymbol(path, fn);
  if (sym.size === 0n || sym.size > BigInt(MAX_GO_FUNCTION_BYTES)) {
    throw new ElfError('EUNSUPPORTED', path, `${fn}: its code cannot be walked for its ret sites (size ${sym.size}); a Go function takes no uretprobe, so it is not probed`);
  }
  const plan = sweepRets(readCodeAt(path, sym.fileOffset, Number(sym.size)), options);
  if ('refusal' in plan) {
    throw new ElfError('EUNSUPPORTED', path, `${fn}: its ret sites cannot all be found (${plan.refusal}); a Go function takes no uretprobe, so it is not probed`);
  }
  if (plan.rets.length > MAX_GO_RETS) {
    throw new ElfError('EUNSUPPORTED', path, `${fn}: ${plan.rets.length} ret sites, over the ${MAX_GO_RETS} one function may take`);
  }
  const [first, ...rest] = plan.rets;
  return {
    fn,
    entry,
    ret: {
      symbol: fn,
      path,
      kind: 'uprobe',
      fileOffset: sym.fileOffset + BigInt(first),
      delta: first,
      instruction: 'ret',
      emulated: false,
      reason: `a plain uprobe on each of the function's ${plan.rets.length} ret instruction(s) (${plan.rets.map((r) => `+${r}`).join(', ')}, by a linear sweep of its code): n is in %rax there`,
    },
    moreReturns: rest.map((r) => sym.fileOffset + BigInt(r)),
  };
}

/** Argument registers the TLS capture reads at entry: ssl, buf, num, and *_ex's size_t *out. */
export const SSL_ENTRY_REGS = ['rdi', 'rsi', 'rdx', 'rcx'];

/**
 * Entry and return sites for each of `fns` (e.g. SSL_read, SSL_write, SSL_read_ex, SSL_write_ex)
 * in `path`. A function that cannot be placed (missing symbol, unreadable file) maps to its
 * ElfError, so one missing export does not stop the others.
 */
export function placeSslProbes(path: string, fns: string[], options: ReturnSiteOptions = {}): Map<string, SslProbeSites | ElfError> {
  const out = new Map<string, SslProbeSites | ElfError>();
  for (const fn of fns) {
    try {
      out.set(fn, isGoTlsFunction(fn) ? placeGoTlsProbes(path, fn, options) : { fn, entry: placeEntryProbe(path, fn, SSL_ENTRY_REGS, options), ret: placeReturnProbe(path, fn, options) });
    } catch (err) {
      if (!(err instanceof ElfError)) throw err;
      out.set(fn, err);
    }
  }
  return out;
}
