import { readFileSync } from 'node:fs';
import type { OomkillRawKill, OomkillStats, OomkillTracer, OomkillTracerOptions, RingFill } from '@tracefleet/native';
import type { OomKill, StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { processExists } from '../../lib/proc';
import { ensureTracefs } from '../../lib/tracefs';
import { StringTable } from '../string-table';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';

export interface OomkillNativeParts {
  createOomkill(opts: Omit<OomkillTracerOptions, 'objectPath'>): OomkillTracer;
}

/** Kills per OomKillBatch (they are rare: a batch is sent at each flush). */
export const KILLS_PER_BATCH = 1000;
/** The agent keeps at most this many kills between flushes, whatever the job asks. */
const MAX_PENDING = 10_000;
/** Ring buffer for a budget of maxEvents (a record is 104 bytes): 16 KiB to 1 MiB. */
export function oomkillRingBytes(maxEvents: number): number {
  const want = Math.max(maxEvents, 1) * 128;
  let bytes = 16 << 10;
  while (bytes < want && bytes < 1 << 20) bytes *= 2;
  return bytes;
}

/** /proc/loadavg's first three fields, as oomkill prints them; '' when unreadable. */
export function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '';
  }
}

interface Pending extends OomkillRawKill {
  unixMs: number;
  loadavg: string;
}

/**
 * One oomkill run: the kernel sends each OOM kill whose victim is in the target (oom:mark_victim, with the trigger,
 * the task whose allocation ran out); the run streams them in numbered OomKillBatches and ends with an OomkillReport.
 */
export class OomkillRun extends TracingRun {
  private tracer: OomkillTracer | undefined;
  private group: GroupTarget | undefined;
  private stats: OomkillStats | undefined;
  private pending: Pending[] = [];
  private pendingDropped = 0n;
  private sent = 0n;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: OomkillNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'oomkill') throw new RunRejected('this agent got a start message without an oomkill spec');
    const s = spec.value;
    const kind = target?.kind;
    ensureTracefs();
    const base: Omit<OomkillTracerOptions, 'objectPath'> = {
      maxEvents: s.maxEvents,
      ringBufferBytes: oomkillRingBytes(s.maxEvents),
      onEvents: (kills) => this.onKills(kills),
    };
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createOomkill({ ...base, pid: kind.value });
      what = `pid ${kind.value}`;
    } else if (kind?.$case === 'comm') {
      this.tracer = this.native.createOomkill({ ...base, comm: kind.value });
      what = `processes named ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createOomkill(base);
      what = 'any process';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createOomkill({ ...base, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `the processes of ${this.group.describe()}`;
    } else {
      throw new RunRejected('an oomkill run needs a target: a pid, a comm, all, a cgroup or a container');
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      return {
        message: `tracing OOM kills of ${what} (tracepoint oom:mark_victim)`,
        watchPid: kind?.$case === 'pid' ? kind.value : undefined,
      };
    };
  }

  private onKills(kills: OomkillRawKill[]): void {
    const now = Date.now();
    const load = loadavg();
    const room = MAX_PENDING - this.pending.length;
    if (kills.length > room) this.pendingDropped += BigInt(kills.length - Math.max(room, 0));
    for (const k of kills.slice(0, Math.max(room, 0))) this.pending.push({ ...k, unixMs: now, loadavg: load });
  }

  protected async flush(): Promise<void> {
    while (this.pending.length > 0) await this.sendBatch(this.pending.splice(0, KILLS_PER_BATCH));
  }

  private async sendBatch(raw: Pending[]): Promise<void> {
    const table = new StringTable();
    const kills: OomKill[] = raw.map((k) => ({
      tsNs: k.tsNs,
      unixMs: BigInt(k.unixMs),
      victimPid: k.victimPid,
      victimComm: table.intern(k.victimComm),
      triggerPid: k.triggerPid,
      triggerTid: k.triggerTid,
      triggerComm: table.intern(k.triggerComm),
      uid: k.uid,
      oomScoreAdj: k.oomScoreAdj,
      totalVmKb: k.totalVmKb,
      anonRssKb: k.anonRssKb,
      fileRssKb: k.fileRssKb,
      shmemRssKb: k.shmemRssKb,
      pgtablesKb: k.pgtablesKb,
      loadavg: k.loadavg,
    }));
    this.sent += BigInt(kills.length);
    await this.sink.send({ msg: { $case: 'oomKills', value: { runId: this.runId, seq: this.nextSeq(), strings: table.strings, kills } } });
  }

  protected async stopTracing(): Promise<void> {
    this.stats = await this.tracer!.stop();
  }

  protected override async report(): Promise<void> {
    const s = this.stats!;
    await this.sink.send({
      msg: {
        $case: 'oomkillReport',
        value: { runId: this.runId, kills: s.kills, streamed: this.sent, overBudget: s.overBudget, dropped: s.kernelDrops + s.queueDrops + this.pendingDropped },
      },
    });
  }

  protected counts(): RunCounts {
    const s = this.stats ?? this.tracer?.stats();
    return {
      taken: s ? s.kills - s.overBudget : 0n,
      droppedKernel: s ? s.kernelDrops : 0n,
      droppedAgent: (s?.queueDrops ?? 0n) + this.pendingDropped,
      sent: this.sent,
    };
  }

  protected override notes(): string[] {
    const s = this.stats;
    const notes = [...(this.group?.notes() ?? [])];
    if (!s) return notes;
    if (s.overBudget > 0n) notes.push(`${s.overBudget} kills counted but not kept: maxEvents reached`);
    if (s.kernelDrops > 0n) notes.push(`${s.kernelDrops} kills lost: the ring buffer was full`);
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
