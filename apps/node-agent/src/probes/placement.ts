/**
 * Where every uprobe the agent attaches goes: the one owner of that decision for the allocator
 * (memleak) and the TLS functions (ssl-capture). Each function's BPF program reads certain argument
 * registers at entry and, for TLS, the return value; from those this file asks entry-site.ts for
 * the cheapest entry site that keeps them intact and return-site.ts for a return site that reads
 * %rax without a uretprobe. Runs take the file offsets from here and compute none themselves.
 */
import { ElfError } from '../lib/elf';
import { type Placement, placeEntryProbe, type PlacementOptions } from './entry-site';
import { placeReturnProbe, retSitesOf, type ReturnPlacement, type ReturnSiteOptions } from './return-site';
import { returnCoverOf } from './return-cover';

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
   * With `mallocReturns` asked for: malloc's ret sites (file offsets), every one the code walk reaches:
   * a plain uprobe on each, no entry probe (one trap per call), the size read from the chunk header.
   * Absent when the walk cannot prove it found them all (`mallocReturnsRefused` says why): malloc then
   * has its entry probe and a uretprobe.
   */
  mallocReturns?: bigint[];
  /** With `inside`: sites of malloc's that are emulated instructions inside its frame (return-cover.ts), probed like the rets */
  mallocInside?: bigint[];
  /** the sites, for the run's note: "+343 `jne <+752>`", "+256 `ret`" */
  mallocSites?: string[];
  mallocReturnsRefused?: string;
}

/** Most return sites one function may take (the addon's bound, for malloc and Go's functions alike). */
const MAX_RETS = 64;

/**
 * The memleak probes of the libc at `libc` (a path the agent can open); malloc's return sites only when
 * `mallocReturns` asks for them (memleak's mallocProbe "returns"): with `inside` (the agent's unwind tables
 * walk the stack), emulated sites inside malloc's frame where return-cover.ts proves a set, else its rets.
 * Throws ElfError.
 */
export function placeAllocatorProbes(libc: string, options: PlacementOptions & { mallocReturns?: boolean; inside?: boolean } = {}): AllocatorProbes {
  const free = placeEntryProbe(libc, 'free', FREE_ENTRY_REGS, options);
  const probes: AllocatorProbes = { free, entryOffsets: { free: free.fileOffset } };
  if (!options.mallocReturns) return probes;
  const cover = options.inside ? returnCoverOf(libc, 'malloc', MAX_RETS, options) : undefined;
  if (cover && 'offsets' in cover && cover.atRet.includes(false)) {
    const pick = (atRet: boolean): bigint[] => cover.offsets.filter((_, i) => cover.atRet[i] === atRet);
    const rets = pick(true);
    return { ...probes, ...(rets.length ? { mallocReturns: rets } : {}), mallocInside: pick(false), mallocSites: cover.sites };
  }
  const plan = retSitesOf(libc, 'malloc', 'walk', MAX_RETS, options);
  if (!('rets' in plan)) return { ...probes, mallocReturnsRefused: plan.refusal };
  return { ...probes, mallocReturns: plan.rets, mallocSites: plan.deltas.map((d) => `+${d} \`ret\``) };
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
  const plan = retSitesOf(path, fn, 'sweep', MAX_RETS, options);
  if ('refusal' in plan) {
    throw new ElfError('EUNSUPPORTED', path, `${fn}: its ret sites cannot all be found (${plan.refusal}); a Go function takes no uretprobe, so it is not probed`);
  }
  const { deltas } = plan;
  const [first, ...rest] = plan.rets;
  return {
    fn,
    entry,
    ret: {
      symbol: fn,
      path,
      kind: 'uprobe',
      fileOffset: first,
      delta: deltas[0],
      instruction: 'ret',
      emulated: false,
      reason: `a plain uprobe on each of the function's ${deltas.length} ret instruction(s) (${deltas.map((d) => `+${d}`).join(', ')}, by a linear sweep of its code): n is in %rax there`,
    },
    moreReturns: rest,
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
