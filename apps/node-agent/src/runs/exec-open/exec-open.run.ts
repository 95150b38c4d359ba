import type { ExecOpenRawEvent, ExecOpenStats, ExecOpenTracer, ExecOpenTracerOptions, RingFill } from '@tracefleet/native';
import type { ExecOpenEvent, StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { processExists } from '../../lib/proc';
import { ensureTracefs } from '../../lib/tracefs';
import { StringTable } from '../string-table';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';

export interface ExecOpenNativeParts {
  createExecOpen(opts: Omit<ExecOpenTracerOptions, 'objectPath'>): ExecOpenTracer;
}

/** Events per ExecOpenEventBatch: at most ~2.7 KB each on the wire (21 strings of 127 bytes), under 4 MiB. */
export const EVENTS_PER_BATCH = 1000;
/** The agent keeps at most this many events between flushes, whatever the job asks. */
const MAX_PENDING = 100_000;
/** Ring buffer for a budget of maxEvents (a record is 72 bytes plus its strings, ~330 for an open): 256 KiB to 16 MiB. */
export function execOpenRingBytes(maxEvents: number): number {
  const want = Math.max(maxEvents, 1) * 512;
  let bytes = 256 << 10;
  while (bytes < want && bytes < 16 << 20) bytes *= 2;
  return bytes;
}

/** An event's strings, bounded for the wire (the kernel already cut them at 127 or 255 bytes; escapes may grow them 4x). */
const cut = (s: string): string => (s.length > 1024 ? s.slice(0, 1024) : s);

/**
 * One exec-open run: the kernel sends each exec (file name, argv) and open (path, flags) of the target when the
 * syscall returns, with its return code; the run streams them in numbered ExecOpenEventBatches and ends with an
 * ExecOpenReport (the counters).
 */
export class ExecOpenRun extends TracingRun {
  private tracer: ExecOpenTracer | undefined;
  private group: GroupTarget | undefined;
  private stats: ExecOpenStats | undefined;
  private pending: ExecOpenRawEvent[] = [];
  private pendingDropped = 0n;
  private draining: Promise<void> | undefined;
  private sent = 0n;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: ExecOpenNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'execOpen') throw new RunRejected('this agent got a start message without an exec-open spec');
    const s = spec.value;
    if (!s.exec && !s.open) throw new RunRejected('an exec-open run traces execs, opens or both');
    ensureTracefs();
    const kind = target?.kind;
    const base: Omit<ExecOpenTracerOptions, 'objectPath'> = {
      exec: s.exec,
      open: s.open,
      failedOnly: s.failedOnly,
      maxEvents: s.maxEvents,
      ringBufferBytes: execOpenRingBytes(s.maxEvents),
      onEvents: (events) => this.onEvents(events),
    };
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createExecOpen({ ...base, pid: kind.value });
      what = `pid ${kind.value}`;
    } else if (kind?.$case === 'comm') {
      this.tracer = this.native.createExecOpen({ ...base, comm: kind.value });
      what = `every process named ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createExecOpen(base);
      what = 'every process';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createExecOpen({ ...base, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `the processes of ${this.group.describe()}`;
    } else {
      throw new RunRejected('an exec-open run needs a target: a pid, a comm, all, a cgroup or a container');
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      const kinds = [s.exec ? 'execs' : '', s.open ? 'opens' : ''].filter(Boolean).join(' and ');
      return {
        message: `tracing ${s.failedOnly ? 'failed ' : ''}${kinds} of ${what} (syscalls tracepoints)`,
        watchPid: kind?.$case === 'pid' ? kind.value : undefined,
      };
    };
  }

  private onEvents(events: ExecOpenRawEvent[]): void {
    const room = MAX_PENDING - this.pending.length;
    if (events.length > room) this.pendingDropped += BigInt(events.length - Math.max(room, 0));
    this.pending.push(...events.slice(0, Math.max(room, 0)));
    if (this.pending.length >= EVENTS_PER_BATCH) this.drainFullBatches();
  }

  private drainFullBatches(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.pending.length >= EVENTS_PER_BATCH) await this.sendBatch(this.pending.splice(0, EVENTS_PER_BATCH));
    })()
      .catch((err: Error) => this.log(`run ${this.runId}: sending exec-open events failed: ${err.message}`))
      .finally(() => (this.draining = undefined));
  }

  protected async flush(): Promise<void> {
    await this.draining;
    while (this.pending.length > 0) await this.sendBatch(this.pending.splice(0, EVENTS_PER_BATCH));
  }

  private async sendBatch(raw: ExecOpenRawEvent[]): Promise<void> {
    const table = new StringTable();
    const events: ExecOpenEvent[] = raw.map((e) => ({
      kind: e.kind === 'exec' ? 0 : 1,
      syscall: e.syscall,
      pid: e.pid,
      tid: e.tid,
      ppid: e.ppid,
      uid: e.uid,
      comm: table.intern(e.comm),
      ret: e.ret,
      tsNs: e.tsNs,
      dfd: e.dfd,
      path: cut(e.path),
      args: (e.args ?? []).map(cut),
      flags: (e.flags ?? 0) >>> 0,
      mode: e.mode ?? 0,
      truncated: e.truncated || e.argsTruncated || e.readFailed,
    }));
    this.sent += BigInt(events.length);
    await this.sink.send({ msg: { $case: 'execOpenEvents', value: { runId: this.runId, seq: this.nextSeq(), strings: table.strings, events } } });
  }

  protected async stopTracing(): Promise<void> {
    this.stats = await this.tracer!.stop();
  }

  protected override async report(): Promise<void> {
    const s = this.stats!;
    await this.sink.send({
      msg: {
        $case: 'execOpenReport',
        value: {
          runId: this.runId,
          execs: s.execs,
          opens: s.opens,
          streamed: this.sent,
          noStart: s.noStart,
          overBudget: s.overBudget,
          dropped: s.kernelDrops + s.queueDrops + this.pendingDropped,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const s = this.stats ?? this.tracer?.stats();
    return {
      taken: s ? s.execs + s.opens - s.overBudget : 0n,
      droppedKernel: s ? s.kernelDrops + s.noStart : 0n,
      droppedAgent: (s?.queueDrops ?? 0n) + this.pendingDropped,
      sent: this.sent,
    };
  }

  protected override notes(): string[] {
    const s = this.stats;
    const notes = [...(this.group?.notes() ?? [])];
    if (!s) return notes;
    if (s.noStart > 0n) notes.push(`${s.noStart} calls not followed: the kernel map of calls in progress was full`);
    if (s.overBudget > 0n) notes.push(`${s.overBudget} events counted but not kept: maxEvents reached`);
    if (s.kernelDrops > 0n) notes.push(`${s.kernelDrops} events lost: the ring buffer was full`);
    return notes;
  }

  protected override ringFill(): RingFill | undefined {
    return this.stats ? undefined : this.tracer?.stats().ring;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
  }
}
