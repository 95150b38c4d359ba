import type { OffCpuDelta, OffCpuOptions, OffCpuStats, OffCpuTracer, RawSample, Symbolizer, UnwindCounters, Unwinder } from '@tracefleet/native';
import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { listPids, OriginCache, pidsWithComm, processExists } from '../../lib/proc';
import type { UnwindService } from '../../unwind/unwind-service';
import { sendFolded, StackAggregator, type FoldedBatch } from '../cpu-profile/aggregate';
import { GroupTarget } from '../group-target';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { symbolizerNotes } from '../symbolizer-notes';

export interface OffCpuNativeParts {
  createOffCpu(opts: Omit<OffCpuOptions, 'objectPath'>): OffCpuTracer;
  createSymbolizer(): Symbolizer;
  /** The node's unwind tables; without it user stacks are walked by frame pointer only. */
  unwind?: UnwindService;
}

/** Separates the root frames a wall-clock key's comm carries until flush() splits them (never in a thread name). */
const ROOT_SEP = '\u0000';

/**
 * Microseconds as `us` and no Python frames: a stack's count in a ProfileBatch is its blocked time. In the
 * wall-clock view the root is the process, then the thread, then on-CPU or off-CPU (carried in comm, so the
 * aggregator keeps the keys apart, and split into three frames at the flush).
 */
export function offCpuSample(d: OffCpuDelta, wallClock = false): RawSample {
  return {
    pid: d.pid,
    tid: d.tid,
    cpu: 0,
    comm: wallClock ? [d.comm || `[pid ${d.pid}]`, `tid ${d.tid}`, d.onCpu ? 'on-CPU' : 'off-CPU'].join(ROOT_SEP) : d.comm,
    kernelStack: d.kernelStack,
    userStack: d.userStack,
    kernelStackError: d.kernelStackError,
    userStackError: d.userStackError,
    pyFrames: new BigUint64Array(0),
    pyStatus: 0,
    pyTruncated: false,
    count: d.us,
  };
}

/**
 * One off-cpu run: the kernel sums the time the target's threads spend blocked, by (process, comm, user stack,
 * kernel stack); each flush reads what each key gained since the last, symbolizes it and sends it as a
 * ProfileBatch whose counts are blocked microseconds, so the job's flame graph, folded, pprof and speedscope
 * outputs weigh stacks by time.
 */
export class OffCpuRun extends TracingRun {
  private tracer: OffCpuTracer | undefined;
  private symbolizer: Symbolizer | undefined;
  private group: GroupTarget | undefined;
  private stats: OffCpuStats | undefined;
  private readonly agg: StackAggregator;
  private readonly origins = new OriginCache();
  /** RunFinished's "samples" are microseconds here (what the controller sums on arrival), except the kernel's drops: blocks. */
  private usRead = 0;
  private usSent = 0;
  private blocksDropped = 0;
  private wallClock = false;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: OffCpuNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
    this.agg = new StackAggregator(cfg.maxStacksPerFlush);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'offCpu') throw new RunRejected('this agent got a start message without an off-cpu spec');
    const minBlockUs = Number(spec.value.minBlockUs) || 1;
    const wallClockHz = spec.value.wallClockHz;
    if (wallClockHz > this.cfg.maxFrequencyHz) throw new RunRejected(`wallClockHz ${wallClockHz} is outside this agent's limit [0, ${this.cfg.maxFrequencyHz}]`);
    this.wallClock = wallClockHz > 0;
    const base: Omit<OffCpuOptions, 'objectPath'> = {
      minBlockNs: minBlockUs * 1000,
      kernelStacks: !spec.value.skipKernelStacks,
      maxTasks: spec.value.maxTasks || undefined,
      ...(wallClockHz > 0 ? { wallClockHz } : {}),
    };
    const kind = target?.kind;
    let named: number[] = [];
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      base.pid = kind.value;
      named = [kind.value];
      what = `the threads of pid ${kind.value}`;
    } else if (kind?.$case === 'comm') {
      base.comm = kind.value;
      named = pidsWithComm(kind.value, process.pid);
      what = `threads named ${kind.value}`;
    } else if (kind?.$case === 'all') {
      what = 'every thread';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      Object.assign(base, this.group.filter);
      named = this.group.pids();
      what = `the threads of ${this.group.describe()}`;
    } else {
      throw new RunRejected('an off-cpu run needs a target: a pid, a comm, all, a cgroup or a container');
    }
    this.symbolizer = this.native.createSymbolizer();
    const unwinder: Unwinder | undefined = await this.useUnwinder(this.native.unwind, named);
    this.tracer = this.native.createOffCpu({ ...base, unwinder });
    this.group?.follow(this.tracer, (pids) => {
      if (unwinder) void this.useUnwinder(this.native.unwind, pids).catch(() => undefined);
    });
    const tracer = this.tracer;
    // A whole-host run: every running process gets its tables from now on rather than each waiting for a miss.
    if (unwinder && kind?.$case === 'all') void this.useUnwinder(this.native.unwind, listPids()).catch(() => undefined);
    return () => {
      tracer.start();
      const wall = wallClockHz > 0 ? `, and on-CPU time sampled at ${wallClockHz} Hz (wall clock per thread)` : '';
      return {
        message: `measuring time blocked off-CPU of ${what}, blocks of at least ${minBlockUs} µs (tp_btf sched_switch)${wall} for ${this.start.durationSec} s`,
        watchPid: kind?.$case === 'pid' ? kind.value : undefined,
      };
    };
  }

  /** Reads what each key gained into the aggregator; blocks whose stack found the aggregator full are counted as dropped. */
  private take(): void {
    for (const d of this.tracer!.read()) {
      if (d.us === 0) continue;
      const before = this.agg.dropped;
      this.agg.add([offCpuSample(d, this.wallClock)]);
      this.usRead += d.us;
      if (this.agg.dropped !== before) this.blocksDropped += d.blocks;
    }
  }

  protected async flush(): Promise<void> {
    if (!this.tracer || !this.symbolizer) return;
    if (!this.stats) this.take();
    if (this.agg.size === 0) return;
    const drained = splitRoots(this.agg.drain(this.symbolizer, undefined, (pid, comm) => this.origins.originOf(pid, comm.split(ROOT_SEP)[0])));
    this.usSent += drained.samples;
    await sendFolded(this.sink, this.runId, () => this.nextSeq(), drained);
  }

  protected async stopTracing(): Promise<void> {
    this.tracer!.stop();
    // The last reading: flush() after this sends it.
    this.take();
    this.stats = this.tracer!.stats();
  }

  protected counts(): RunCounts {
    const stats = this.stats ?? this.tracer?.stats();
    return {
      taken: BigInt(this.usRead),
      // Blocks: one the start map refused was never timed.
      droppedKernel: stats ? stats.noStart + stats.noCount : 0n,
      droppedAgent: BigInt(this.agg.dropped),
      sent: BigInt(this.usSent),
    };
  }

  protected override notes(): string[] {
    const s = this.stats;
    const notes: string[] = [...(this.group?.notes() ?? [])];
    if (s && s.noStart > 0n) notes.push(`${s.noStart} blocks not measured: the kernel map of blocked threads was full (maxTasks)`);
    if (s && s.noCount > 0n) notes.push(`${s.noCount} blocks lost: the kernel map of stacks was full`);
    if (s && s.noUserStack > 0n) notes.push(`${s.noUserStack} blocks counted without their user stack: the kernel map of user stacks was full`);
    if (this.blocksDropped > 0) notes.push(`${this.blocksDropped} blocks (${this.agg.dropped} µs) dropped on the agent: more distinct stacks in one flush than it keeps`);
    if (s) notes.push(`${s.blocks} blocks counted, ${s.short} shorter than the minimum left out`);
    return [...notes, ...symbolizerNotes(this.symbolizer)];
  }

  protected override unwindCounters(): UnwindCounters | undefined {
    return (this.stats ?? this.tracer?.stats())?.unwind;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
    this.symbolizer?.close();
  }
}

/** A drained batch with each root frame that carries ROOT_SEP split into its frames (the wall-clock view's process, thread, state). */
export function splitRoots(batch: FoldedBatch): FoldedBatch {
  const strings = [...batch.strings];
  const index = new Map(strings.map((s, i) => [s, i]));
  const intern = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.push(s) - 1;
      index.set(s, i);
    }
    return i;
  };
  const stacks = batch.stacks.map((st) => {
    const root = strings[st.frames[0]];
    if (root === undefined || !root.includes(ROOT_SEP)) return st;
    return { ...st, frames: [...root.split(ROOT_SEP).map(intern), ...st.frames.slice(1)] };
  });
  return { ...batch, strings, stacks };
}
