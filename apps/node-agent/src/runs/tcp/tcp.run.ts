import type { RingFill, TcpRawConnection, TcpStats, TcpTracer, TcpTracerOptions } from '@tracefleet/native';
import type { StartRun, TcpConnection } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import { processExists } from '../../lib/proc';
import { StringTable } from '../string-table';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';
import { GroupTarget } from '../group-target';

export interface TcpNativeParts {
  createTcp(opts: Omit<TcpTracerOptions, 'objectPath'>): TcpTracer;
}

/** Connections per TcpConnectionBatch: ~120 bytes each on the wire, far under the message bound. */
export const CONNECTIONS_PER_BATCH = 5000;
/** The agent keeps at most this many connections between flushes, whatever the job asks. */
const MAX_PENDING = 200_000;
/** Ring buffer for a budget of maxEvents (a record is 120 bytes): 256 KiB to 16 MiB. */
export function tcpRingBytes(maxEvents: number): number {
  const want = Math.max(maxEvents, 1) * 128;
  let bytes = 256 << 10;
  while (bytes < want && bytes < 16 << 20) bytes *= 2;
  return bytes;
}

/**
 * One tcp run: the kernel follows every TCP socket from its first state change and sends each connection of the
 * target when it closes; the run streams them in numbered TcpConnectionBatches and ends with a TcpReport (the
 * connect-latency histogram and the counters).
 */
export class TcpRun extends TracingRun {
  private tracer: TcpTracer | undefined;
  private group: GroupTarget | undefined;
  private stats: TcpStats | undefined;
  private pending: TcpRawConnection[] = [];
  private pendingDropped = 0n;
  private draining: Promise<void> | undefined;
  private sent = 0n;

  constructor(start: StartRun, cfg: AgentConfig, sink: MessageSink, private readonly native: TcpNativeParts, log: (msg: string) => void) {
    super(start, cfg, sink, log);
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'tcp') throw new RunRejected('this agent got a start message without a tcp spec');
    const s = spec.value;
    const kind = target?.kind;
    const base: Omit<TcpTracerOptions, 'objectPath'> = {
      maxEvents: s.maxEvents,
      maxSockets: s.maxSockets || undefined,
      ports: s.ports,
      family: s.family === 4 || s.family === 6 ? s.family : undefined,
      ringBufferBytes: tcpRingBytes(s.maxEvents),
      onEvents: (connections) => this.onConnections(connections),
    };
    let what: string;
    if (kind?.$case === 'pid') {
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tracer = this.native.createTcp({ ...base, pid: kind.value });
      what = `pid ${kind.value}`;
    } else if (kind?.$case === 'comm') {
      this.tracer = this.native.createTcp({ ...base, comm: kind.value });
      what = `every process named ${kind.value}`;
    } else if (kind?.$case === 'all') {
      this.tracer = this.native.createTcp(base);
      what = 'every process';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.tracer = this.native.createTcp({ ...base, ...this.group.filter });
      this.group.follow(this.tracer);
      what = `the processes of ${this.group.describe()}`;
    } else {
      throw new RunRejected('a tcp run needs a target: a pid, a comm, all, a cgroup or a container');
    }
    const tracer = this.tracer;
    return () => {
      tracer.start();
      const filters = [s.ports.length ? `ports ${s.ports.join(',')}` : '', s.family ? `IPv${s.family} only` : ''].filter(Boolean);
      return {
        message: `tracing TCP connections of ${what}${filters.length ? ` (${filters.join(', ')})` : ''} (tp_btf sock:inet_sock_set_state)`,
        watchPid: kind?.$case === 'pid' ? kind.value : undefined,
      };
    };
  }

  private onConnections(connections: TcpRawConnection[]): void {
    const room = MAX_PENDING - this.pending.length;
    if (connections.length > room) this.pendingDropped += BigInt(connections.length - Math.max(room, 0));
    this.pending.push(...connections.slice(0, Math.max(room, 0)));
    if (this.pending.length >= CONNECTIONS_PER_BATCH) this.drainFullBatches();
  }

  private drainFullBatches(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.pending.length >= CONNECTIONS_PER_BATCH) await this.sendBatch(this.pending.splice(0, CONNECTIONS_PER_BATCH));
    })()
      .catch((err: Error) => this.log(`run ${this.runId}: sending connections failed: ${err.message}`))
      .finally(() => (this.draining = undefined));
  }

  protected async flush(): Promise<void> {
    await this.draining;
    while (this.pending.length > 0) await this.sendBatch(this.pending.splice(0, CONNECTIONS_PER_BATCH));
  }

  private async sendBatch(raw: TcpRawConnection[]): Promise<void> {
    const table = new StringTable();
    const connections: TcpConnection[] = raw.map((c) => ({
      pid: c.pid,
      comm: table.intern(c.comm),
      family: c.family,
      saddr: c.saddr,
      daddr: c.daddr,
      sport: c.sport,
      dport: c.dport,
      startNs: c.startNs,
      endNs: c.endNs,
      connectNs: c.connectNs,
      rxBytes: c.rxBytes,
      txBytes: c.txBytes,
      active: c.active,
      pidSource: c.pidSource,
    }));
    this.sent += BigInt(connections.length);
    await this.sink.send({ msg: { $case: 'tcpConnections', value: { runId: this.runId, seq: this.nextSeq(), strings: table.strings, connections } } });
  }

  protected async stopTracing(): Promise<void> {
    this.stats = await this.tracer!.stop();
  }

  protected override async report(): Promise<void> {
    const s = this.stats!;
    await this.sink.send({
      msg: {
        $case: 'tcpReport',
        value: {
          runId: this.runId,
          connectSlots: s.connectSlots,
          connectTotalNs: s.connectTotalNs,
          connects: s.connects,
          closed: s.closed,
          streamed: this.sent,
          noStart: s.noStart,
          untracked: s.untracked,
          overBudget: s.overBudget,
          dropped: s.kernelDrops + s.queueDrops + this.pendingDropped,
        },
      },
    });
  }

  protected counts(): RunCounts {
    const s = this.stats ?? this.tracer?.stats();
    return {
      taken: s ? s.closed - s.overBudget : 0n,
      droppedKernel: s ? s.kernelDrops + s.noStart : 0n,
      droppedAgent: (s?.queueDrops ?? 0n) + this.pendingDropped,
      sent: this.sent,
    };
  }

  protected override notes(): string[] {
    const s = this.stats;
    const notes = [...(this.group?.notes() ?? [])];
    if (!s) return notes;
    if (s.noStart > 0n) notes.push(`${s.noStart} sockets not followed: the kernel map of sockets was full (maxSockets)`);
    if (s.overBudget > 0n) notes.push(`${s.overBudget} connections counted but not kept: maxEvents reached`);
    if (s.kernelDrops > 0n) notes.push(`${s.kernelDrops} connections lost: the ring buffer was full`);
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
