import type { Profiler, ProfilerStats, RawSample, RingFill, Symbolizer, UnwindCounters, Unwinder } from '@tracefleet/native';
import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { listPids, OriginCache, pidsWithComm, processExists } from '../../lib/proc';
import type { UnwindService } from '../../unwind/unwind-service';
import { sendFolded, StackAggregator } from './aggregate';
import { GroupTarget, type GroupTargetFilter } from '../group-target';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { symbolizerNotes } from '../symbolizer-notes';
import { PythonFrames } from '../python/python-frames';
import { JavaPerfMaps } from '../java/perf-maps';
import { profileRingBytes } from './ring-bytes';

export { RunRejected, type MessageSink } from '../tracing-run';

export interface NativeParts {
  createProfiler(opts: {
    frequencyHz: number;
    targetPid?: number;
    targetComm?: string;
    foldSamples?: boolean;
    ringBufferBytes?: number;
    unwinder?: Unwinder;
    python?: boolean;
    onSamples: (s: RawSample[]) => void;
  } & GroupTargetFilter): Profiler;
  createSymbolizer(): Symbolizer;
  /** The node's unwind tables; without it user stacks are walked by frame pointer only. */
  unwind?: UnwindService;
}

/** One CPU-profile run: sample, aggregate identical stacks, symbolize, stream folded batches. */
export class CpuProfileRun extends TracingRun {
  private profiler: Profiler | undefined;
  private symbolizer: Symbolizer | undefined;
  private stats: ProfilerStats | undefined;
  private samplesSent = 0;
  private readonly agg: StackAggregator;
  private python: PythonFrames | undefined;
  private java: JavaPerfMaps | undefined;
  private group: GroupTarget | undefined;
  /** Where each sampled process runs: the labels of its stacks. */
  private readonly origins = new OriginCache();

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: NativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
    this.agg = new StackAggregator(cfg.maxStacksPerFlush);
  }

  protected async open(): Promise<Attach> {
    const { group, ...spec } = this.validate();
    this.group = group;
    const { pythonFrames, javaPerfMaps } = this.runtimes();
    this.symbolizer = this.native.createSymbolizer();
    const named = spec.targetPid ? [spec.targetPid] : spec.targetComm ? pidsWithComm(spec.targetComm, process.pid) : group ? group.pids() : [];
    const unwinder = await this.useUnwinder(this.native.unwind, named);
    this.profiler = this.native.createProfiler({
      ...spec,
      ...group?.filter,
      // Identical samples arrive as one with a count: the JS thread's work follows distinct stacks, not the rate.
      foldSamples: true,
      ringBufferBytes: profileRingBytes(spec.frequencyHz),
      unwinder,
      python: pythonFrames,
      onSamples: (samples) => {
        // A process met for the first time (started after the job began, or not named) is looked at now:
        // its next samples carry Python frames if it runs CPython.
        this.python?.seeSamples(samples);
        this.java?.see(samples.map((s) => s.pid));
        this.agg.add(samples);
      },
    });
    if (pythonFrames) {
      this.python = new PythonFrames(this.profiler);
      this.python.see(named);
    }
    if (javaPerfMaps) {
      this.java = new JavaPerfMaps();
      this.java.see(spec.targetPid || spec.targetComm || group ? named : listPids());
      // A named JVM's map is there before the first flush names its samples.
      await this.java.refresh(true);
    }
    // A pid-set target (cgroup v1) fills the profiler's set before the first sample, then follows the processes
    // that join; each newcomer gets its unwind tables and runtime names as a named process would.
    group?.follow(this.profiler, (pids) => {
      this.python?.see(pids);
      this.java?.see(pids);
      if (unwinder) void this.useUnwinder(this.native.unwind, pids).catch(() => undefined);
    });
    if (unwinder && !spec.targetPid && !spec.targetComm) {
      // A whole-host profile: every running process gets its tables from now on (during the wait for the start
      // time, when there is one), rather than each waiting for a miss (samples taken before count as unwindPending).
      void this.useUnwinder(this.native.unwind, listPids()).catch(() => undefined);
    }
    const profiler = this.profiler;
    return () => {
      profiler.start();
      const of = group ? ` of ${group.describe()} (${named.length} processes now)` : '';
      return { message: `sampling${of} at ${spec.frequencyHz} Hz for ${this.start.durationSec} s`, watchPid: spec.targetPid };
    };
  }

  private validate(): { frequencyHz: number; targetPid?: number; targetComm?: string; group?: GroupTarget } {
    const { spec, target } = this.start;
    if (spec?.$case !== 'cpuProfile') throw new RunRejected('this agent got a start message without a cpu-profile spec');
    const frequencyHz = spec.value.frequencyHz;
    if (frequencyHz < 1 || frequencyHz > this.cfg.maxFrequencyHz) {
      throw new RunRejected(`frequencyHz ${frequencyHz} is outside this agent's limit [1, ${this.cfg.maxFrequencyHz}]`);
    }
    const kind = target?.kind;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      return { frequencyHz, targetPid: kind.value };
    }
    if (kind?.$case === 'comm') return { frequencyHz, targetComm: kind.value };
    if (kind?.$case === 'all') return { frequencyHz };
    const group = GroupTarget.from(target, this.cfg.nodeName);
    if (group) return { frequencyHz, group };
    throw new RunRejected('the start message names no target');
  }

  /** Runtime names: on unless the node's setting or the job turns them off. */
  private runtimes(): { pythonFrames: boolean; javaPerfMaps: boolean } {
    const spec = this.start.spec?.$case === 'cpuProfile' ? this.start.spec.value : undefined;
    return { pythonFrames: this.cfg.pythonFrames && !spec?.skipPythonFrames, javaPerfMaps: this.cfg.javaPerfMaps && !spec?.skipJavaPerfMaps };
  }

  protected async flush(): Promise<void> {
    if (this.agg.size === 0 || !this.symbolizer) return;
    await this.java?.refresh();
    const drained = this.agg.drain(this.symbolizer, this.python, (pid, comm) => this.origins.originOf(pid, comm));
    this.samplesSent += drained.samples;
    await sendFolded(this.sink, this.runId, () => this.nextSeq(), drained);
  }

  protected async stopTracing(): Promise<void> {
    this.stats = await this.profiler!.stop();
    // Methods compiled since the last map: the last flush names them too.
    await this.java?.refresh(true);
  }

  protected counts(): RunCounts {
    const stats = this.stats ?? this.profiler?.stats();
    return {
      taken: stats?.samplesSeen ?? 0n,
      droppedKernel: stats?.kernelDrops ?? 0n,
      droppedAgent: (stats?.queueDrops ?? 0n) + BigInt(this.agg.dropped),
      sent: BigInt(this.samplesSent),
    };
  }

  protected override notes(): string[] {
    const stats = this.stats ?? this.profiler?.stats();
    return [...(this.group?.notes() ?? []), ...(this.python?.notes(stats?.python) ?? []), ...(this.java?.notes() ?? []), ...symbolizerNotes(this.symbolizer)];
  }

  protected override unwindCounters(): UnwindCounters | undefined {
    return (this.stats ?? this.profiler?.stats())?.unwind;
  }

  protected override ringFill(): RingFill | undefined {
    return this.stats ? undefined : this.profiler?.stats().ring;
  }

  protected release(): void {
    this.group?.close();
    this.profiler?.close();
    this.symbolizer?.close();
    this.python?.close();
  }
}
