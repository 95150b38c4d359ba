import type { MemleakSnapshot as NativeSnapshot, MemleakTracer, MemleakOptions, Symbolizer, UnwindCounters } from '@tracefleet/native';
import { MemleakMode, type MemleakSpec, type StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { ensureTracefs } from '../../lib/tracefs';
import { OriginCache, pidsWithComm, processExists, procRootPath, readComm, readMaps, type Origin } from '../../lib/proc';
import { placeAllocatorProbes } from '../../probes/placement';
import type { UnwindService } from '../../unwind/unwind-service';
import { StringTable } from '../string-table';
import { symbolizerNotes } from '../symbolizer-notes';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';
import { PythonFrames, userFramesOf } from '../python/python-frames';

export interface MemleakNativeParts {
  createMemleak(opts: Omit<MemleakOptions, 'objectPath'>): MemleakTracer;
  unwind?: UnwindService;
  createSymbolizer(): Symbolizer;
}

/** The libc a process maps, as a path the agent can open from its own mount namespace. */
export function libcOf(pid: number): string {
  const libc = readMaps(pid).find((m) => !m.deleted && /\/libc(\.so\.6|-[\d.]+\.so)$/.test(m.path));
  if (!libc) throw new RunRejected(`pid ${pid} does not map glibc's libc.so.6 (static or another allocator?); user-mode memleak needs it`);
  return procRootPath(pid, libc.path);
}

/**
 * One memleak run: track live allocations of a process (its libc allocator) or of the kernel
 * (kmem tracepoints), snapshot them every interval, and send the top stacks by outstanding bytes.
 */
export class MemleakRun extends TracingRun {
  private tracer: MemleakTracer | undefined;
  private symbolizer: Symbolizer | undefined;
  private python: PythonFrames | undefined;
  /** How malloc is probed (return sites only, or entry + uretprobe), for the run's notes. */
  private mallocNote: string | undefined;
  private spec!: MemleakSpec;
  private pid: number | undefined;
  /** Where the traced process runs (user mode), read once at the start: every snapshot carries it. */
  private origin: { cgroup: string; containerId: string; podUid: string } | undefined;
  private root = 'kernel';
  private nextSnapshotAt = 0;
  private stacksSent = 0n;
  private last: NativeSnapshot | undefined;
  /** After the final snapshot no periodic one follows. */
  private stopped = false;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: MemleakNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec } = this.start;
    if (spec?.$case !== 'memleak') throw new RunRejected('this agent got a start message without a memleak spec');
    this.spec = spec.value;
    if (this.spec.intervalSec < 1) throw new RunRejected('intervalSec must be at least 1');
    if (this.spec.sampleEvery < 1) throw new RunRejected('sampleEvery must be at least 1');
    this.symbolizer = this.native.createSymbolizer();
    const common = {
      maxAllocs: this.spec.maxAllocs,
      sampleEvery: this.spec.sampleEvery,
      sampleBytes: Number(this.spec.sampleBytes),
    };
    let message: string;
    if (this.spec.mode === MemleakMode.MEMLEAK_MODE_KERNEL) {
      ensureTracefs();
      this.tracer = this.native.createMemleak({ mode: 'kernel', ...common });
      message = 'tracking kernel allocations on this node';
    } else {
      this.pid = this.resolvePid();
      const libc = libcOf(this.pid);
      this.root = readComm(this.pid) ?? `[pid ${this.pid}]`;
      const o: Origin | undefined = new OriginCache().originOf(this.pid);
      if (o) this.origin = { cgroup: o.cgroup, containerId: o.containerId ?? '', podUid: o.podUid ?? '' };
      this.warmSymbols(this.pid);
      const unwinder = await this.useUnwinder(this.native.unwind, [this.pid]);
      const python = this.cfg.pythonFrames;
      // Return sites only when the job asks: a ret is single-stepped (not emulated) on the kernels seen so far; the
      // emulated sites inside malloc's frame (return-cover.ts) need the unwind tables to walk the stack from there.
      const placed = placeAllocatorProbes(libc, { mallocReturns: this.spec.mallocReturnsOnly === true, inside: unwinder !== undefined });
      const { free, entryOffsets, mallocReturns, mallocInside, mallocSites, mallocReturnsRefused } = placed;
      const returns = { ...(mallocReturns ? { mallocReturns } : {}), ...(mallocInside ? { mallocInside } : {}) };
      this.tracer = this.native.createMemleak({ mode: 'user', pid: this.pid, libc, entryOffsets, ...returns, unwinder, python, ...common });
      const emulated = mallocInside?.length ?? 0;
      this.mallocNote = mallocSites
        ? `malloc: a probe on each of its ${mallocSites.length} return sites (${mallocSites.join(', ')}; ${emulated} emulated, ${mallocSites.length - emulated} a single-stepped ret) and none at its entry (one trap per call); its sizes are usable sizes from the chunk header, 8 to 23 bytes over the request (a page at most for a chunk mmap()ed on its own)`
        : mallocReturnsRefused !== undefined
          ? `malloc: entry probe and uretprobe, exact sizes: mallocProbe 'returns' was asked, but its ret sites are not all proven (${mallocReturnsRefused})`
          : undefined;
      // Python frames are read at each allocation (and kept per distinct chain in the kernel), named at snapshots.
      if (python) (this.python = new PythonFrames(this.tracer)).see([this.pid]);
      message = `tracking allocations of pid ${this.pid} (${this.root}) through ${libc}; free probed at +${free.delta} (${free.reason})`;
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      this.nextSnapshotAt = Date.now() + this.spec.intervalSec * 1000;
      return { message, watchPid: this.pid };
    };
  }

  private resolvePid(): number {
    const kind = this.start.target?.kind;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      return kind.value;
    }
    if (kind?.$case === 'comm') {
      const pids = pidsWithComm(kind.value, process.pid);
      if (pids.length !== 1) {
        throw new RunRejected(
          pids.length === 0 ? `no process named ${kind.value} runs on node ${this.cfg.nodeName}` : `${pids.length} processes are named ${kind.value} (pids ${pids.slice(0, 10).join(', ')}); give target.pid`,
        );
      }
      return pids[0];
    }
    // A cgroup or container: its one process (a container's service); with several, the user names one.
    const group = GroupTarget.from(this.start.target, this.cfg.nodeName);
    if (group) {
      const pids = group.pids().filter((p) => p !== process.pid);
      if (pids.length !== 1) {
        const which = pids.length === 0 ? 'no process' : `${pids.length} processes (pids ${pids.slice(0, 10).join(', ')})`;
        throw new RunRejected(`${group.describe()} holds ${which} on node ${this.cfg.nodeName}: a memleak run traces one process; give target.pid`);
      }
      return pids[0];
    }
    throw new RunRejected('a user-mode memleak run needs a target pid, comm, cgroup or container');
  }

  /** Reads the target's executable mappings into the symbolizer now, so stacks still resolve after it exits. */
  private warmSymbols(pid: number): void {
    const addrs = readMaps(pid).filter((m) => m.perms.includes('x')).map((m) => m.startAddr);
    if (addrs.length > 0) this.symbolizer!.symbolizeUser(pid, BigUint64Array.from(addrs));
  }

  protected async flush(): Promise<void> {
    if (this.stopped || Date.now() < this.nextSnapshotAt) return;
    this.nextSnapshotAt = Date.now() + this.spec.intervalSec * 1000;
    await this.snapshot(false);
  }

  protected async stopTracing(): Promise<void> {
    this.tracer!.stop();
    this.stopped = true;
    await this.snapshot(true);
  }

  private async snapshot(final: boolean): Promise<void> {
    const snap = this.tracer!.snapshot(BigInt(this.spec.minAgeSec) * 1_000_000_000n);
    this.last = snap;
    const table = new StringTable();
    let totalBytes = 0n;
    let totalCount = 0n;
    for (const s of snap.stacks) {
      totalBytes += s.bytes;
      totalCount += BigInt(s.count);
    }
    const top = [...snap.stacks].sort((a, b) => (b.bytes > a.bytes ? 1 : b.bytes < a.bytes ? -1 : 0)).slice(0, this.spec.topN);
    const stacks = top.map((s) => {
      const frames = [this.root];
      if (this.pid !== undefined) frames.push(...userFramesOf({ ...s, pid: this.pid }, this.symbolizer!, this.python));
      if (s.kernelStack.length > 0) frames.push(...this.symbolizer!.symbolizeKernel(s.kernelStack).reverse());
      if (frames.length === 1) frames.push(s.stackId < 0 ? `[stack lost: errno ${-s.stackId}]` : '[no stack]');
      return {
        frames: frames.map((f) => table.intern(f)),
        bytes: s.bytes,
        count: BigInt(s.count),
        oldestAgeMs: s.oldestNs > 0n && snap.nowNs > s.oldestNs ? (snap.nowNs - s.oldestNs) / 1_000_000n : 0n,
      };
    });
    this.stacksSent += BigInt(stacks.length);
    const c = snap.counters;
    await this.sink.send({
      msg: {
        $case: 'memleakSnapshot',
        value: {
          runId: this.runId,
          seq: this.nextSeq(),
          takenAtUnixMs: BigInt(Date.now()),
          final,
          strings: table.strings,
          stacks,
          totalBytes,
          totalCount,
          allocsSeen: c.allocsSeen,
          allocsTraced: c.allocsTraced,
          freesMatched: c.freesMatched,
          untracked: c.untracked,
          stackErrors: c.stackErrors,
          scale: this.spec.sampleEvery > 1 ? this.spec.sampleEvery : c.allocsTraced > 0n ? Number(c.allocsSeen) / Number(c.allocsTraced) : 1,
          attached: snap.attached,
          origin: this.origin,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const c = this.last?.counters;
    return { taken: c?.allocsTraced ?? 0n, droppedKernel: (c?.untracked ?? 0n) + (c?.stackErrors ?? 0n), droppedAgent: 0n, sent: this.stacksSent };
  }

  protected override notes(): string[] {
    if (this.mallocNote) return [this.mallocNote, ...this.moreNotes()];
    return this.moreNotes();
  }

  private moreNotes(): string[] {
    const c = this.last?.counters;
    const lost = c && c.pyStackErrors > 0n ? [`python: ${c.pyStackErrors} allocation(s) without their Python frames (the kernel's chain map was full)`] : [];
    return [...(this.python?.notes(c?.python) ?? []), ...lost, ...symbolizerNotes(this.symbolizer)];
  }

  protected override unwindCounters(): UnwindCounters | undefined {
    return this.last?.counters.unwind;
  }

  protected release(): void {
    this.tracer?.close();
    this.symbolizer?.close();
    this.python?.close();
  }
}
