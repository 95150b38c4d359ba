import { RunEventKind, type AgentMessage, type StartRun, type UnwindStats } from '@tracefleet/proto';
import type { AgentConfig } from '../config';
import type { RingFill, UnwindCounters, Unwinder } from '@tracefleet/native';
import { processExists } from '../lib/proc';
import type { UnwindLease, UnwindService } from '../unwind/unwind-service';

export interface MessageSink {
  send(msg: AgentMessage): Promise<void>;
}

export class RunRejected extends Error {}

/** What a run reports at its end, in RunFinished's terms. */
export interface RunCounts {
  taken: bigint;
  droppedKernel: bigint;
  droppedAgent: bigint;
  sent: bigint;
}

/** What a run has counted so far, for the agent's metrics (metrics/agent-metrics.ts). */
export interface RunProgress {
  counts: RunCounts;
  unwind?: UnwindCounters;
  /** The tracer's ring buffer while the run is live (tracers with one: cpu-profile, usdt, ssl-capture). */
  ring?: RingFill;
}

/** What a run says in its STARTED event, and the process whose exit ends it. */
export interface Started {
  message: string;
  watchPid?: number;
}

/** Puts what open() prepared into the kernel (at the run's start time) and says what it attached. */
export type Attach = () => Started | Promise<Started>;

const TARGET_POLL_MS = 250;
/** A start time further ahead than this on the node's clock is refused: the clocks disagree, or it is a mistake. */
export const MAX_START_WAIT_MS = 120_000;

/**
 * The life of one run on this node, whatever it traces: open the tracer,
 * flush results on a jittered timer, end at the duration, on stop() or when
 * the target process exits, and always finish with a RunFinished message
 * carrying the counts — and free everything — whatever went wrong.
 */
export abstract class TracingRun {
  private stopReason: string | undefined;
  private wake: (() => void) | undefined;
  protected seq = 0n;
  /** This run's share of the node's unwind tables, when its tracer takes user stacks through them. */
  private unwind: UnwindLease | undefined;
  /** Taken in finish(), before release() frees the tracer: what progress() answers from then on. */
  private finalProgress: RunProgress | undefined;

  constructor(
    protected readonly start: StartRun,
    protected readonly cfg: AgentConfig,
    protected readonly sink: MessageSink,
    protected readonly log: (msg: string) => void,
  ) {}

  get runId(): string {
    return this.start.runId;
  }

  /** Asks the run to end early; run() then finishes normally with what it has. */
  stop(reason: string): void {
    this.stopReason ??= reason;
    this.wake?.();
  }

  /**
   * What the run has counted so far (its final counts once it finished), for the agent's metrics. Throws when
   * the tracer cannot say; the caller counts that, a scrape never fails for it.
   */
  progress(): RunProgress {
    return this.finalProgress ?? { counts: this.counts(), unwind: this.unwindCounters(), ring: this.ringFill() };
  }

  /**
   * Validates and creates the tracer (BPF objects loaded, probes placed, unwind tables built), attaching
   * nothing: called before the run's start time. The Attach it returns is called at that time: an
   * incident's runs on many nodes then start together however long each took to prepare.
   */
  protected abstract open(): Promise<Attach>;
  /** Sends what was gathered since the last flush. */
  protected abstract flush(): Promise<void>;
  /** Detaches and drains the tracer (the last flush follows). */
  protected abstract stopTracing(): Promise<void>;
  /** Sends what goes before RunFinished (e.g. a summary). */
  protected async report(): Promise<void> {}
  protected abstract counts(): RunCounts;
  /** The tracer's in-kernel unwinding counters (runs that called useUnwinder). */
  /** What the user should know about a run that completed (files refused, limits met), for RunFinished.reason. */
  protected notes(): string[] {
    return [];
  }

  protected unwindCounters(): UnwindCounters | undefined {
    return undefined;
  }

  /** The live tracer's ring buffer fill; undefined for tracers without one and once the tracer stopped. */
  protected ringFill(): RingFill | undefined {
    return undefined;
  }

  /**
   * Shares the node's unwind tables with this run's tracer (give the result to its options); the named
   * processes get their tables before it attaches, others on their first sample. Undefined when the node
   * unwinds by frame pointer only. The share is given back after release().
   */
  protected async useUnwinder(service: UnwindService | undefined, pids: number[]): Promise<Unwinder | undefined> {
    if (!service) return undefined;
    this.unwind ??= service.lease();
    await this.unwind.prepare(pids);
    return this.unwind.handle as Unwinder;
  }
  /** Frees every kernel and native resource; must be safe after a partial open. */
  protected abstract release(): void;

  protected nextSeq(): bigint {
    this.seq++;
    return this.seq;
  }

  async run(): Promise<void> {
    let watchPid: number | undefined;
    let targetExited = false;
    try {
      this.checkDuration();
      const startAt = this.startTime();
      const attach = await this.open();
      await this.waitUntil(startAt);
      const opened = await attach();
      watchPid = opened.watchPid;
      await this.event(RunEventKind.RUN_EVENT_KIND_STARTED, opened.message);

      const deadline = Date.now() + this.start.durationSec * 1000;
      let nextFlush = Date.now() + this.jitteredFlushMs();
      while (this.stopReason === undefined && Date.now() < deadline) {
        const wait = Math.min(deadline, nextFlush) - Date.now();
        await this.sleepOrWake(Math.min(Math.max(wait, 0), TARGET_POLL_MS));
        if (watchPid !== undefined && !processExists(watchPid)) {
          targetExited = true;
          await this.event(RunEventKind.RUN_EVENT_KIND_TARGET_EXITED, `pid ${watchPid} exited`);
          break;
        }
        if (Date.now() >= nextFlush) {
          await this.flush();
          nextFlush = Date.now() + this.jitteredFlushMs();
        }
      }
      await this.stopTracing();
      await this.flush();
      await this.report();
      const reasons: string[] = [];
      if (targetExited) reasons.push(`target pid ${watchPid} exited before the end; the results hold what was captured until then`);
      if (this.stopReason) reasons.push(`stopped early: ${this.stopReason}`);
      reasons.push(...this.notes());
      await this.finish(true, reasons.join('; '), targetExited);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.log(`run ${this.runId} failed: ${reason}`);
      await this.finish(false, reason, targetExited).catch(() => undefined);
    } finally {
      this.release();
      this.unwind?.release();
    }
  }

  /** StartRun's start_at_unix_ms (0: at once), refused when it is implausibly far ahead of this node's clock. */
  private startTime(): number {
    const at = Number(this.start.startAtUnixMs);
    const ahead = at - Date.now();
    if (at && ahead > MAX_START_WAIT_MS) {
      throw new RunRejected(`start time is ${Math.round(ahead / 1000)} s ahead of this node's clock (limit ${MAX_START_WAIT_MS / 1000} s); are the clocks in sync?`);
    }
    return at;
  }

  /**
   * Waits for the start time (an incident's runs on many nodes start together) with the tracer prepared
   * and nothing attached; stop() during the wait ends the run without attaching.
   */
  private async waitUntil(at: number): Promise<void> {
    if (!at) return;
    while (this.stopReason === undefined && Date.now() < at) await this.sleepOrWake(at - Date.now());
    if (this.stopReason !== undefined) throw new Error(`stopped before the start time: ${this.stopReason}`);
  }

  private checkDuration(): void {
    const { durationSec } = this.start;
    if (durationSec < 1 || durationSec > this.cfg.maxDurationSec) {
      throw new RunRejected(`durationSec ${durationSec} is outside this agent's limit [1, ${this.cfg.maxDurationSec}]`);
    }
  }

  /** How often flush() runs (±20 % jitter); a run type that streams events may flush more often. */
  protected flushIntervalMs(): number {
    return this.cfg.flushIntervalMs;
  }

  private jitteredFlushMs(): number {
    return this.flushIntervalMs() * (0.8 + Math.random() * 0.4);
  }

  private sleepOrWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  protected event(kind: RunEventKind, message: string): Promise<void> {
    return this.sink.send({
      msg: { $case: 'runEvent', value: { runId: this.runId, kind, message, atUnixMs: BigInt(Date.now()) } },
    });
  }

  private finish(ok: boolean, reason: string, targetExited: boolean): Promise<void> {
    let c: RunCounts = { taken: 0n, droppedKernel: 0n, droppedAgent: 0n, sent: 0n };
    let unwind: UnwindStats | undefined;
    try {
      c = this.counts();
      const counters = this.unwindCounters();
      this.finalProgress = { counts: c, unwind: counters };
      unwind = this.unwind?.stats(counters);
    } catch {
      // counts are best effort once the tracer itself failed
    }
    return this.sink.send({
      msg: {
        $case: 'runFinished',
        value: {
          runId: this.runId,
          ok,
          reason,
          targetExited,
          samplesTaken: c.taken,
          samplesDroppedKernel: c.droppedKernel,
          samplesDroppedAgent: c.droppedAgent,
          samplesSent: c.sent,
          lastSeq: this.seq,
          unwind,
          // Set by the outbox (delivery/outbox.ts) when it queues this message.
          batchesSpooled: 0n,
          batchesOverflowed: 0n,
        },
      },
    });
  }
}
