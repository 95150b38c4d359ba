import type { SyscountReading, SyscountTracer, SyscountOptions } from '@tracefleet/native';
import type { StartRun, SyscountEntry } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { ensureTracefs } from '../../lib/tracefs';
import { processExists } from '../../lib/proc';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { syscallName } from './syscall-names';
import { GroupTarget } from '../group-target';

export interface SyscountNativeParts {
  createSyscount(opts: Omit<SyscountOptions, 'objectPath'>): SyscountTracer;
}

/** Entries one report carries at most, largest counts first; the rest is summed as left out. */
export const MAX_REPORT_ENTRIES = 10_000;

/**
 * One syscount run: count syscalls per (process, syscall) in the kernel for the run's duration, then
 * send the largest counts in one SyscountReport. Nothing streams: the counts live in a BPF hash map.
 */
export class SyscountRun extends TracingRun {
  private tracer: SyscountTracer | undefined;
  private final: SyscountReading | undefined;
  private group: GroupTarget | undefined;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: SyscountNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'syscount') throw new RunRejected('this agent got a start message without a syscount spec');
    const kind = target?.kind;
    const maxKeys = spec.value.maxKeys || undefined;
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createSyscount({ pid: kind.value, maxKeys });
      what = `pid ${kind.value}`;
    } else if (kind?.$case === 'comm') {
      this.tracer = this.native.createSyscount({ comm: kind.value, maxKeys });
      what = `every process named ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createSyscount({ maxKeys });
      what = 'every process';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createSyscount({ maxKeys, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `the processes of ${this.group.describe()}`;
    } else {
      throw new RunRejected('a syscount run needs a target: a pid, a comm, all, a cgroup or a container');
    }
    ensureTracefs();
    const tracer = this.tracer;
    return () => {
      tracer.start();
      return { message: `counting syscalls of ${what} (tracepoint raw_syscalls:sys_enter)`, watchPid: kind?.$case === 'pid' ? kind.value : undefined };
    };
  }

  protected async flush(): Promise<void> {
    // Counts are read once, at the end (report()).
  }

  protected async stopTracing(): Promise<void> {
    this.tracer!.stop();
    this.final = this.tracer!.read();
  }

  protected override async report(): Promise<void> {
    const reading = this.final!;
    const sorted = [...reading.entries].sort((a, b) => (a.count === b.count ? a.pid - b.pid || a.nr - b.nr : a.count > b.count ? -1 : 1));
    const kept = sorted.slice(0, MAX_REPORT_ENTRIES);
    const left = sorted.slice(MAX_REPORT_ENTRIES);
    const entries: SyscountEntry[] = kept.map((e) => ({ pid: e.pid, comm: e.comm, nr: e.nr, name: syscallName(e.nr), count: e.count }));
    await this.sink.send({
      msg: {
        $case: 'syscountReport',
        value: {
          runId: this.runId,
          entries,
          calls: reading.calls,
          uncounted: reading.uncounted,
          entriesLeftOut: BigInt(left.length),
          callsLeftOut: left.reduce((s, e) => s + e.count, 0n),
        },
      },
    });
  }

  protected counts(): RunCounts {
    const r = this.final;
    return { taken: r?.calls ?? 0n, droppedKernel: r?.uncounted ?? 0n, droppedAgent: 0n, sent: r ? BigInt(Math.min(r.entries.length, MAX_REPORT_ENTRIES)) : 0n };
  }

  protected override notes(): string[] {
    const r = this.final;
    if (!r) return [];
    const notes: string[] = [...(this.group?.notes() ?? [])];
    if (r.uncounted > 0n) notes.push(`${r.uncounted} syscalls not counted: the kernel map of (process, syscall) pairs was full (maxKeys)`);
    if (r.entries.length > MAX_REPORT_ENTRIES) notes.push(`${r.entries.length - MAX_REPORT_ENTRIES} smallest (process, syscall) counts summed as left out`);
    return notes;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
  }
}
