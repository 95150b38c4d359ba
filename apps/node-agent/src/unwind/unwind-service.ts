import type { NativeUnwinder, UnwindCounters, UnwinderStats } from '@tracefleet/native';
import type { UnwindStats } from '@tracefleet/proto';

/** What the service needs of the addon's Unwinder: its methods (the facade, or a fake in specs). */
export type UnwinderPort = NativeUnwinder;

export interface UnwindServiceOptions {
  /** How often the kernel's misses (pcs outside every known mapping, processes not known) are read. */
  missPollMs?: number;
  /** A process is read again at most this often after a miss (a burst of samples asks many times). */
  retryMs?: number;
  /** Every known process is read again this often: exits, execs and unmapped libraries. */
  refreshMs?: number;
}

/**
 * The node's unwind tables, shared by every run that takes user stacks. The first run to lease it
 * creates the Unwinder (its BPF maps); the last to release it closes it, so nothing stays in the
 * kernel between jobs. Processes get tables when a run names them (prepare) and when the kernel
 * reports a miss for them: a process started later, a library loaded with dlopen, an exec.
 * Table builds run one at a time off the JS thread.
 */
export class UnwindService {
  private unwinder: (UnwinderPort & { handle?: unknown }) | undefined;
  private leases = 0;
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly queued = new Set<number>();
  private readonly lastRead = new Map<number, number>();
  private readonly missPollMs: number;
  private readonly retryMs: number;
  private readonly refreshMs: number;
  /** Table build time on the JS clock: what the longest single addProcess took (the event loop never waits on it). */
  longestAddMs = 0;

  constructor(
    private readonly create: () => UnwinderPort & { handle?: unknown },
    private readonly log: (msg: string) => void,
    opts: UnwindServiceOptions = {},
  ) {
    this.missPollMs = opts.missPollMs ?? 200;
    this.retryMs = opts.retryMs ?? 1000;
    this.refreshMs = opts.refreshMs ?? 5000;
  }

  /** Takes a share of the node's unwinder for one run; release it in the run's release(). */
  lease(): UnwindLease {
    if (!this.unwinder) {
      this.unwinder = this.create();
      this.timers = [
        setInterval(() => this.pollMisses(), this.missPollMs),
        setInterval(() => this.refreshAll(), this.refreshMs),
      ];
    }
    this.leases++;
    return new UnwindLease(this, this.unwinder);
  }

  /** Builds tables for these processes now; resolves when they are in the kernel. */
  prepare(pids: number[]): Promise<void> {
    return Promise.all(pids.map((pid) => this.read(pid, true))).then(() => undefined);
  }

  /** @internal */
  returnLease(): void {
    if (this.leases === 0) return;
    this.leases--;
    if (this.leases > 0) return;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const unwinder = this.unwinder;
    this.unwinder = undefined;
    this.queued.clear();
    this.lastRead.clear();
    // close() frees the maps at once; a build still running holds its registry until it ends.
    unwinder?.close();
  }

  private pollMisses(): void {
    if (!this.unwinder) return;
    let pids: number[];
    try {
      pids = this.unwinder.takeMisses();
    } catch (err) {
      this.log(`unwind: reading misses failed: ${(err as Error).message}`);
      return;
    }
    const now = Date.now();
    for (const pid of pids) {
      if (now - (this.lastRead.get(pid) ?? 0) >= this.retryMs) void this.read(pid, false);
    }
  }

  private refreshAll(): void {
    if (!this.unwinder) return;
    for (const pid of this.unwinder.processes()) void this.read(pid, false);
  }

  private read(pid: number, force: boolean): Promise<void> {
    if (!force && this.queued.has(pid)) return Promise.resolve();
    this.queued.add(pid);
    const unwinder = this.unwinder;
    const step = this.chain.then(async () => {
      this.queued.delete(pid);
      if (!unwinder || unwinder !== this.unwinder) return;
      this.lastRead.set(pid, Date.now());
      const t0 = performance.now();
      try {
        const r = await unwinder.addProcess(pid);
        if (r.gone) this.lastRead.delete(pid);
        if (r.tablesBuilt > 0) this.log(`unwind: pid ${pid}: ${r.mappings} mappings, ${r.tablesBuilt} tables built in ${r.buildMs.toFixed(1)} ms`);
      } catch (err) {
        this.log(`unwind: pid ${pid}: ${(err as Error).message}`);
      }
      this.longestAddMs = Math.max(this.longestAddMs, performance.now() - t0);
    });
    this.chain = step.catch(() => undefined);
    return step;
  }
}

/** One run's share: the unwinder for its tracer, and its counters at the end. */
export class UnwindLease {
  private readonly before: UnwinderStats;
  private released = false;
  private last: UnwinderStats;

  constructor(
    private readonly service: UnwindService,
    private readonly unwinder: UnwinderPort & { handle?: unknown },
  ) {
    this.before = unwinder.stats();
    this.last = this.before;
  }

  /** The Unwinder to hand to the tracer's options. */
  get handle(): UnwinderPort & { handle?: unknown } {
    return this.unwinder;
  }

  prepare(pids: number[]): Promise<void> {
    return this.service.prepare(pids);
  }

  /** The UnwindStats of RunFinished from the tracer's kernel counters and what the tables did meanwhile. */
  stats(counters: UnwindCounters | undefined): UnwindStats {
    if (!this.released) this.last = this.unwinder.stats();
    const now = this.last;
    const c = counters;
    const n = (v: number) => BigInt(Math.max(0, Math.round(v)));
    return {
      stacks: c?.stacks ?? 0n,
      stacksComplete: c?.stacksComplete ?? 0n,
      framesTable: c?.framesTable ?? 0n,
      framesFp: c?.framesFp ?? 0n,
      cutNoMapping: c?.cutNoMapping ?? 0n,
      cutNoRow: c?.cutNoRow ?? 0n,
      cutExpression: c?.cutExpression ?? 0n,
      cutDepth: c?.cutDepth ?? 0n,
      cutReadFault: c?.cutReadFault ?? 0n,
      unwindPending: c?.unwindPending ?? 0n,
      cutInvalid: c?.cutInvalid ?? 0n,
      tablesBuilt: n(now.tablesBuilt - this.before.tablesBuilt),
      tableBuildMs: n(now.buildMs - this.before.buildMs),
      tableBytes: n(now.tableBytes),
      tableBytesPeak: n(now.tableBytesPeak),
      tablesEvicted: n(now.tablesEvicted - this.before.tablesEvicted),
      tablesRefused: n(now.tablesRefused - this.before.tablesRefused),
      processes: n(now.processes),
      modulesFp: n(now.modulesFp),
    };
  }

  /** Keeps the last table figures for stats() and gives the share back. Idempotent. */
  release(): void {
    if (this.released) return;
    try {
      this.last = this.unwinder.stats();
    } catch {
      // closed already: keep what was read last
    }
    this.released = true;
    this.service.returnLease();
  }
}
