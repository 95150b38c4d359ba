import * as fs from 'node:fs';
import type { BiolatencyHistogram, BiolatencyOptions, BiolatencyReading, BiolatencyTracer } from '@tracefleet/native';
import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { processExists } from '../../lib/proc';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';
import { diskDev, diskName } from './disks';

export interface BiolatencyNativeParts {
  createBiolatency(opts: Omit<BiolatencyOptions, 'objectPath'>): BiolatencyTracer;
}

/** (disk, process) histograms the kernel keeps (BIOLAT_DEFAULT_MAX_HISTS in biolatency.h); per disk (a per-CPU map) 128 disks. */
export const PER_PROCESS_HISTS = 4096;
export const PER_DISK_HISTS = 128;

/** Histograms one report carries at most (the controller's cap too): the largest; the rest are counted as left out. */
export const MAX_REPORT_HISTOGRAMS = 1024;

const sum = (slots: bigint[]): bigint => slots.reduce((s, c) => s + c, 0n);

/**
 * One biolatency run: the kernel adds each block request of the target (the process current at issue) to log2
 * histograms of latency and size, per disk and, with perProcess, per process; every flush sends the histograms so far
 * (a BiolatencyReport, cumulative: the controller keeps the last) and the end the final one.
 */
export class BiolatencyRun extends TracingRun {
  private tracer: BiolatencyTracer | undefined;
  private final: BiolatencyReading | undefined;
  private group: GroupTarget | undefined;
  private readonly names = new Map<string, string>();
  private leftOut = 0n;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: BiolatencyNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'biolatency') throw new RunRejected('this agent got a start message without a biolatency spec');
    const s = spec.value;
    let dev: number | undefined;
    if (s.disk) {
      // diskDev checks the name (no path) before /sys is read.
      const found = diskDev(s.disk);
      if (!found) throw new RunRejected(`no block device ${s.disk} on node ${this.cfg.nodeName}`);
      if (fs.existsSync(`/sys/class/block/${s.disk}/partition`)) throw new RunRejected(`disk ${s.disk} is a partition on node ${this.cfg.nodeName}: name its whole disk`);
      dev = found.dev;
    }
    const base = {
      perProcess: s.perProcess,
      queued: s.queued,
      dev,
      maxRequests: s.maxRequests || undefined,
      maxHists: s.perProcess ? PER_PROCESS_HISTS : PER_DISK_HISTS,
    };
    const kind = target?.kind;
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createBiolatency({ ...base, pid: kind.value });
      what = `block I/O issued by pid ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createBiolatency(base);
      what = 'all block I/O';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createBiolatency({ ...base, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `block I/O issued by ${this.group.describe()}`;
    } else {
      throw new RunRejected('a biolatency run needs a target: a pid, all, a cgroup or a container (a comm is not supported)');
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      const on = s.disk ? ` on ${s.disk}` : '';
      const per = s.perProcess ? ', per disk and process' : ', per disk';
      const from = s.queued ? 'insert' : 'issue';
      return {
        message: `measuring latency (from ${from}) and size of ${what}${on}${per} (tp_btf block_rq_insert, block_rq_issue, block_rq_complete)`,
        watchPid: kind?.$case === 'pid' ? kind.value : undefined,
      };
    };
  }

  protected async flush(): Promise<void> {
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

  private name(h: BiolatencyHistogram): string {
    const key = `${h.major}:${h.minor}`;
    let n = this.names.get(key);
    if (n === undefined) this.names.set(key, (n = diskName(h.major, h.minor) ?? ''));
    return n;
  }

  private async send(r: BiolatencyReading, final: boolean): Promise<void> {
    const sorted = [...r.histograms].sort((a, b) => {
      const d = sum(b.latency) - sum(a.latency);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
    const kept = sorted.slice(0, MAX_REPORT_HISTOGRAMS);
    this.leftOut = BigInt(sorted.length - kept.length);
    await this.sink.send({
      msg: {
        $case: 'biolatencyReport',
        value: {
          runId: this.runId,
          histograms: kept.map((h) => ({
            disk: this.name(h),
            major: h.major,
            minor: h.minor,
            pid: h.pid,
            comm: h.comm,
            latency: h.latency,
            size: h.size,
            totalNs: h.totalNs,
            totalBytes: h.totalBytes,
          })),
          ios: r.ios,
          startFull: r.startFull,
          noStart: r.noStart,
          noHist: r.noHist,
          final,
          histogramsLeftOut: this.leftOut,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const r = this.final;
    return { taken: r?.ios ?? 0n, droppedKernel: r ? r.startFull + r.noHist : 0n, droppedAgent: 0n, sent: r ? BigInt(r.histograms.length) - this.leftOut : 0n };
  }

  protected override notes(): string[] {
    const r = this.final;
    if (!r) return [];
    const notes: string[] = [...(this.group?.notes() ?? [])];
    if (r.startFull > 0n) notes.push(`${r.startFull} block requests not measured: the kernel map of requests in flight was full (maxRequests)`);
    if (r.noHist > 0n) notes.push(`${r.noHist} block requests not counted: the histogram map was full (too many disks × processes)`);
    if (this.leftOut > 0n) notes.push(`${this.leftOut} smallest histograms left out of the report (over ${MAX_REPORT_HISTOGRAMS})`);
    return notes;
  }

  protected release(): void {
    this.group?.close();
    this.tracer?.close();
  }
}
