import type { RunqlatOptions, RunqlatReading, RunqlatTracer } from '@tracefleet/native';
import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { processExists } from '../../lib/proc';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';

export interface RunqlatNativeParts {
  createRunqlat(opts: Omit<RunqlatOptions, 'objectPath'>): RunqlatTracer;
}

/**
 * One runqlat run: the kernel adds each wait of the target's threads on a run queue to log2 histograms;
 * every flush sends the histograms so far (a RunqlatReport, cumulative: the controller keeps the last), and
 * the end sends the final one. Nothing streams per event.
 */
export class RunqlatRun extends TracingRun {
  private tracer: RunqlatTracer | undefined;
  private final: RunqlatReading | undefined;
  private group: GroupTarget | undefined;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: RunqlatNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'runqlat') throw new RunRejected('this agent got a start message without a runqlat spec');
    const kind = target?.kind;
    const base = { perCgroup: spec.value.perCgroup, maxTasks: spec.value.maxTasks || undefined };
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createRunqlat({ ...base, pid: kind.value });
      what = `the threads of pid ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createRunqlat(base);
      what = 'every thread';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createRunqlat({ ...base, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `the threads of ${this.group.describe()}`;
    } else {
      throw new RunRejected('a runqlat run needs a target: a pid, all, a cgroup or a container (a comm is not supported)');
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      const per = spec.value.perCgroup ? ', one histogram per cgroup' : '';
      return { message: `measuring run-queue latency of ${what}${per} (tp_btf sched_wakeup, sched_wakeup_new, sched_switch)`, watchPid: kind?.$case === 'pid' ? kind.value : undefined };
    };
  }

  protected async flush(): Promise<void> {
    // A snapshot while tracing; the final one is report()'s.
    if (this.final || !this.tracer) return;
    await this.send(this.tracer.read(), false);
  }

  protected async stopTracing(): Promise<void> {
    this.tracer!.stop();
    this.final = this.tracer!.read();
  }

  protected override async report(): Promise<void> {
    await this.send(this.final!, true);
  }

  private async send(r: RunqlatReading, final: boolean): Promise<void> {
    await this.sink.send({
      msg: {
        $case: 'runqlatReport',
        value: {
          runId: this.runId,
          histograms: r.histograms.map((h) => ({ cgroupId: h.cgroupId, slots: h.slots, totalNs: h.totalNs })),
          latencies: r.latencies,
          noStart: r.noStart,
          noHist: r.noHist,
          final,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const r = this.final;
    return { taken: r?.latencies ?? 0n, droppedKernel: r ? r.noStart + r.noHist : 0n, droppedAgent: 0n, sent: r ? BigInt(r.histograms.length) : 0n };
  }

  protected override notes(): string[] {
    const r = this.final;
    if (!r) return [];
    const notes: string[] = [...(this.group?.notes() ?? [])];
    if (r.noStart > 0n) notes.push(`${r.noStart} run-queue waits not measured: the kernel map of waiting threads was full (maxTasks)`);
    if (r.noHist > 0n) notes.push(`${r.noHist} run-queue waits not counted: more than 1024 cgroups had histograms`);
    return notes;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
  }
}
