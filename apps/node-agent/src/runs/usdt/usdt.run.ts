import { existsSync } from 'node:fs';
import type { RingFill, Symbolizer, UnwindCounters, UsdtAttachSpec, UsdtRawEvent, UsdtStats, UsdtTracer, UsdtTracerOptions } from '@tracefleet/native';
import type { StartRun, UsdtEvent, UsdtSpec } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { OriginCache, processExists } from '../../lib/proc';
import { listProcessUsdt, readUsdtProbes, type UsdtProbe } from '../../usdt/stapsdt';
import type { UnwindService } from '../../unwind/unwind-service';
import { PairTracker } from './pairing';
import { StringTable } from '../string-table';
import { symbolizerNotes } from '../symbolizer-notes';
import { PythonFrames, userFramesOf } from '../python/python-frames';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';
import { OriginTable } from '../origin-table';

export interface UsdtNativeParts {
  createTracer(opts: Omit<UsdtTracerOptions, 'objectPath'>): UsdtTracer;
  createSymbolizer(): Symbolizer;
  unwind?: UnwindService;
}

/**
 * Probes whose arguments hold a string the kernel side should copy: [pointer arg, length arg].
 * HotSpot passes pool and manager names as (char*, int length), not NUL-terminated.
 */
const STRING_ARGS: Record<string, [number, number]> = {
  'hotspot:mem__pool__gc__begin': [2, 3],
  'hotspot:mem__pool__gc__end': [2, 3],
};

/** Ring buffer bytes for a budget of maxEvents (each record is ~2.2 KiB with its user stack and Python frames): enough for bursts, 4 to 64 MiB. */
export function ringBytesFor(maxEvents: number): number {
  const want = Math.max(maxEvents, 1) * 2304;
  let bytes = 4 << 20;
  while (bytes < want && bytes < 64 << 20) bytes *= 2;
  return bytes;
}

const EVENTS_PER_BATCH = 5000;

/** The agent keeps at most this many captured events between flushes, whatever the job asks. */
const MAX_PENDING_EVENTS = 200_000;

/** One USDT run: attach the job's probes, stream events, pair begin/end probes, report counts. */
export class UsdtRun extends TracingRun {
  private tracer: UsdtTracer | undefined;
  private symbolizer: Symbolizer | undefined;
  private python: PythonFrames | undefined;
  private group: GroupTarget | undefined;
  /** Where each process runs: its events' labels (read when its first event arrives, before it may exit). */
  private readonly origins = new OriginCache();
  private stats: UsdtStats | undefined;
  private pending: UsdtRawEvent[] = [];
  private pendingDropped = 0n;
  private draining: Promise<void> | undefined;
  private sent = 0n;
  private pairs!: PairTracker;
  private attached: string[] = [];
  private spec!: UsdtSpec;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: UsdtNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'usdt') throw new RunRejected('this agent got a start message without a usdt spec');
    this.spec = spec.value;
    const kind = target?.kind;
    let pid: number | undefined;
    if (kind?.$case === 'pid') {
      pid = kind.value;
      if (!processExists(pid)) throw new RunRejected(`target pid ${pid} does not exist on node ${this.cfg.nodeName}`);
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      if (!this.spec.binary) throw new RunRejected(`a usdt run on ${this.group.describe()} needs a binary`);
    } else if (kind?.$case !== 'all') {
      throw new RunRejected('a usdt run needs a target pid, or all processes, a cgroup or a container with a binary');
    }
    const names = this.spec.probes.map((p) => `${p.provider}:${p.name}`);
    const groupPids = this.group?.pids() ?? [];
    // A group's binary is a path in its processes' own filesystem (a container's image): reached through one
    // of them. The uprobe lands on the file's inode, so it fires in every process that maps that file; the
    // kernel keeps the group's only (target.bpf.h).
    const root = this.group ? this.groupRoot(groupPids) : '';
    const found = this.resolve(names, pid, root);
    const attach: UsdtAttachSpec[] = found.map((probe, i) => {
      const str = STRING_ARGS[names[i]];
      return { path: probe.path, provider: probe.provider, name: probe.name, probe: i, ...(str ? { strArg: str[0], strLenArg: str[1] } : {}) };
    });
    this.pairs = new PairTracker(
      this.spec.pairs.map((p) => ({
        label: p.label,
        begin: names.indexOf(`${p.begin?.provider}:${p.begin?.name}`),
        end: names.indexOf(`${p.end?.provider}:${p.end?.name}`),
      })),
      this.spec.slowestN,
    );
    if (this.spec.userStacks) this.symbolizer = this.native.createSymbolizer();
    const readPython = this.spec.userStacks && this.cfg.pythonFrames;
    const unwinder = this.spec.userStacks ? await this.useUnwinder(this.native.unwind, pid ? [pid] : []) : undefined;
    this.tracer = this.native.createTracer({
      unwinder,
      pid,
      probes: attach,
      maxEvents: this.spec.maxEvents,
      ringBufferBytes: ringBytesFor(this.spec.maxEvents),
      captureStacks: this.spec.userStacks,
      python: readPython,
      ...this.group?.filter,
      onEvents: (events) => {
        this.python?.seeSamples(events);
        this.onEvents(events);
      },
    });
    if (readPython) {
      this.python = new PythonFrames(this.tracer);
      this.python.see(pid ? [pid] : groupPids);
    }
    this.group?.follow(this.tracer, (pids) => this.python?.see(pids));
    const tracer = this.tracer;
    return () => {
      tracer.start();
      const who = pid ? ` (pid ${pid})` : this.group ? ` (the processes of ${this.group.describe()})` : ' (every process)';
      this.attached = attach.map((a) => `${a.provider}:${a.name} in ${a.path}${who}`);
      return { message: `attached ${this.attached.join('; ')}`, watchPid: pid };
    };
  }

  /** The root of a group's filesystem: /proc/PID/root of one of its processes that still runs. */
  private groupRoot(pids: number[]): string {
    const live = pids.find((p) => processExists(p));
    if (live === undefined) throw new RunRejected(`${this.group!.describe()} has no process on node ${this.cfg.nodeName} to find binary ${this.spec.binary} in`);
    return `/proc/${live}/root`;
  }

  /** Finds each probe in the job's binary (under `root`), or in the files the target maps; names the probe and where it looked. */
  private resolve(names: string[], pid: number | undefined, root = ''): UsdtProbe[] {
    const binary = this.spec.binary ? `${root}${this.spec.binary}` : undefined;
    let available: UsdtProbe[];
    let where: string;
    if (binary) {
      if (!existsSync(binary)) throw new RunRejected(`binary ${binary} does not exist on node ${this.cfg.nodeName}`);
      available = readUsdtProbes(binary);
      where = binary;
    } else if (pid !== undefined) {
      available = listProcessUsdt(pid);
      where = `any file mapped by pid ${pid}`;
    } else {
      throw new RunRejected('a usdt run on every process needs a binary');
    }
    return names.map((n) => {
      const [provider, name] = n.split(':');
      const hit = available.find((p) => p.provider === provider && p.name === name);
      if (!hit) throw new RunRejected(`probe ${n} not found in ${where} on node ${this.cfg.nodeName}`);
      return hit;
    });
  }

  private onEvents(events: UsdtRawEvent[]): void {
    for (const e of events) {
      this.origins.originOf(e.pid);
      this.pairs.add({ probe: e.probe, pid: e.pid, tid: e.tid, tsNs: e.tsNs, args: [...e.args], str: e.str, stack: this.stackOf(e) });
    }
    const room = MAX_PENDING_EVENTS - this.pending.length;
    if (events.length > room) this.pendingDropped += BigInt(events.length - Math.max(room, 0));
    this.pending.push(...events.slice(0, Math.max(room, 0)));
    if (this.pending.length >= EVENTS_PER_BATCH) this.drainFullBatches();
  }

  /**
   * Sends full batches as soon as they fill rather than once a second, so a burst waits in
   * gRPC's compact serialized form instead of as JS objects (and is not dropped at the bound).
   */
  private drainFullBatches(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.pending.length >= EVENTS_PER_BATCH) await this.sendBatch(this.pending.splice(0, EVENTS_PER_BATCH));
    })()
      .catch((err: Error) => this.log(`run ${this.runId}: sending events failed: ${err.message}`))
      .finally(() => (this.draining = undefined));
  }

  private stackOf(e: UsdtRawEvent): string[] | undefined {
    if (!this.symbolizer || (e.userStack.length === 0 && e.pyFrames.length === 0)) return undefined;
    return userFramesOf(e, this.symbolizer, this.python);
  }

  protected async flush(): Promise<void> {
    await this.draining;
    while (this.pending.length > 0) await this.sendBatch(this.pending.splice(0, EVENTS_PER_BATCH));
  }

  /** One UsdtEventBatch: a bounded message, so that one busy second never becomes one huge write. */
  private async sendBatch(events: UsdtRawEvent[]): Promise<void> {
    const table = new StringTable();
    const origins = new OriginTable();
    const out: UsdtEvent[] = events.map((e) => ({
      probe: e.probe,
      pid: e.pid,
      tid: e.tid,
      tsNs: e.tsNs,
      args: [...e.args],
      stack: (this.stackOf(e) ?? []).map((f) => table.intern(f)),
      str: e.str ?? '',
      origin: origins.index(this.origins.originOf(e.pid)),
    }));
    this.sent += BigInt(out.length);
    await this.sink.send({ msg: { $case: 'usdtEvents', value: { runId: this.runId, seq: this.nextSeq(), strings: table.strings, events: out, origins: origins.list } } });
  }

  protected async stopTracing(): Promise<void> {
    this.stats = await this.tracer!.stop();
  }

  protected override async report(): Promise<void> {
    const stats = this.stats!;
    await this.sink.send({
      msg: {
        $case: 'usdtReport',
        value: {
          runId: this.runId,
          probeCounts: stats.hits,
          eventsCaptured: stats.delivered,
          eventsOverBudget: stats.overBudget,
          eventsDroppedKernel: stats.kernelDrops,
          pairs: this.pairs.results(),
          attached: this.attached,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const stats = this.stats ?? this.tracer?.stats();
    return {
      taken: stats ? stats.hits.reduce((a, b) => a + b, 0n) - stats.overBudget : 0n,
      droppedKernel: stats?.kernelDrops ?? 0n,
      droppedAgent: (stats?.queueDrops ?? 0n) + this.pendingDropped,
      sent: this.sent,
    };
  }

  protected override notes(): string[] {
    const stats = this.stats ?? this.tracer?.stats();
    return [...(this.group?.notes() ?? []), ...(this.python?.notes(stats?.python) ?? []), ...symbolizerNotes(this.symbolizer)];
  }

  protected override unwindCounters(): UnwindCounters | undefined {
    return (this.stats ?? this.tracer?.stats())?.unwind;
  }

  protected override ringFill(): RingFill | undefined {
    return this.stats ? undefined : this.tracer?.stats().ring;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
    this.symbolizer?.close();
    this.python?.close();
  }
}
