// Typed facade of the addon's unwind tables (native/src/unwind_*): one Unwinder per agent, handed to
// every tracer that takes user stacks.
import { loadAddon } from './index';

export interface UnwinderOptions {
  /** Kernel memory the tables may take on this node, bytes (≥ 1 MiB). Default 256 MiB. */
  maxTableBytes?: number;
}

/** What addProcess did. */
export interface AddProcessResult {
  /** The process is gone (no /proc/PID/maps): its entry was removed. */
  gone: boolean;
  /** Executable mappings written for it. */
  mappings: number;
  /** Tables this call built (the others were shared with processes already known). */
  tablesBuilt: number;
  buildMs: number;
}

/** The tables on this node (every run shares them). */
export interface UnwinderStats {
  processes: number;
  tables: number;
  tableRows: number;
  tableBytes: number;
  tableBytesPeak: number;
  tablesBuilt: number;
  buildMs: number;
  tablesEvicted: number;
  tablesRefused: number;
  /** Mappings unwound by frame pointer (anonymous executable memory, files without CFI) in the last process written. */
  modulesFp: number;
  mappingsDropped: number;
  unreadable: number;
  /** Stripped files whose debuginfo the DEBUGINFOD_URLS servers gave (fetched while building tables, off the JS thread). */
  debuginfoFetched: number;
  /** Stripped files they did not have: their frames stay module+offset. */
  debuginfoMissing: number;
}

/** A tracer's in-kernel unwinding counters (UNWIND_* in packages/bpf/src/unwind/unwind.h), summed over CPUs. */
export interface UnwindCounters {
  stacks: bigint;
  stacksComplete: bigint;
  framesTable: bigint;
  framesFp: bigint;
  cutNoMapping: bigint;
  cutNoRow: bigint;
  cutExpression: bigint;
  cutDepth: bigint;
  cutReadFault: bigint;
  unwindPending: bigint;
  cutInvalid: bigint;
}

export interface NativeUnwinder {
  addProcess(pid: number): Promise<AddProcessResult>;
  removeProcess(pid: number): Promise<void>;
  takeMisses(): number[];
  stats(): UnwinderStats;
  processes(): number[];
  close(): void;
}

export interface UnwindTableRow {
  pc: bigint;
  cfaRule: number;
  cfaOffset: number;
  rbpRule: number;
  rbpOffset: number;
}

export interface UnwindTable {
  /** '.eh_frame', '.debug_frame', or '' when the file has no CFI. */
  source: string;
  fdes: number;
  expressions: number;
  plt: number;
  signal: number;
  rows: UnwindTableRow[];
}

/** Rule numbers of unwind.h (UNWIND_CFA_*, UNWIND_RBP_*). */
export const CFA_RULE = { none: 0, rsp: 1, rbp: 2, plt: 3, signal: 4, end: 5, expression: 6 } as const;
export const RBP_RULE = { same: 0, offset: 1, undefined: 2 } as const;

/**
 * Unwind tables from .eh_frame/.debug_frame, loaded into BPF maps that every tracer created with this Unwinder
 * reads to walk user stacks without frame pointers. Processes are added explicitly (addProcess) or after the
 * kernel reported a miss for them (takeMisses). close() removes every map entry and table.
 */
export class Unwinder {
  readonly #native: NativeUnwinder;

  constructor(opts: UnwinderOptions = {}) {
    this.#native = new (loadAddon().Unwinder)(opts);
  }

  /** The addon's object, for tracer options. */
  get handle(): NativeUnwinder {
    return this.#native;
  }

  /** Reads the process's maps, builds the tables it lacks (off the JS thread) and writes its entry. */
  addProcess(pid: number): Promise<AddProcessResult> {
    return this.#native.addProcess(pid);
  }

  removeProcess(pid: number): Promise<void> {
    return this.#native.removeProcess(pid);
  }

  /** Tgids whose samples met a pc outside every mapping written for them (or that have no entry), since the last call. */
  takeMisses(): number[] {
    return this.#native.takeMisses();
  }

  stats(): UnwinderStats {
    return this.#native.stats();
  }

  processes(): number[] {
    return this.#native.processes();
  }

  close(): void {
    this.#native.close();
  }
}

/** The table built for one ELF file, as the BPF program would search it. */
export function unwindTable(file: string): UnwindTable {
  return loadAddon().unwindTable(file);
}
