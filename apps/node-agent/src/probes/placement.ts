/**
 * Where every uprobe the agent attaches goes: the one owner of that decision for the allocator
 * (memleak) and the TLS functions (ssl-capture). Each function's BPF program reads certain argument
 * registers at entry and, for TLS, the return value; from those this file asks entry-site.ts for
 * the cheapest entry site that keeps them intact and return-site.ts for a return site that reads
 * %rax without a uretprobe. Runs take the file offsets from here and compute none themselves.
 */
import { ElfError } from '../lib/elf';
import { type Placement, placeEntryProbe, type PlacementOptions } from './entry-site';
import { placeReturnProbe, type ReturnPlacement, type ReturnSiteOptions } from './return-site';

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
}

/** The memleak probes of the libc at `libc` (a path the agent can open). Throws ElfError. */
export function placeAllocatorProbes(libc: string, options: PlacementOptions = {}): AllocatorProbes {
  const free = placeEntryProbe(libc, 'free', FREE_ENTRY_REGS, options);
  return { free, entryOffsets: { free: free.fileOffset } };
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
      out.set(fn, { fn, entry: placeEntryProbe(path, fn, SSL_ENTRY_REGS, options), ret: placeReturnProbe(path, fn, options) });
    } catch (err) {
      if (!(err instanceof ElfError)) throw err;
      out.set(fn, err);
    }
  }
  return out;
}
