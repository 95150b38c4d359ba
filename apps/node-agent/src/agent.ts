import { Symbolizer, Unwinder, fixMallocThresholds, releaseMemory } from '@tracefleet/native';
import type { CheckTarget, ControllerMessage, ListUsdt, StartRun, UsdtListResult } from '@tracefleet/proto';
import type { AgentConfig } from './config';
import { ControllerLink } from './link';
import { NodeCredentials } from './identity';
import { pidsWithComm, processExists, readComm } from './lib/proc';
import { JOB_TYPES, realTracers, runTypeOf, type RunNativeParts } from './runs/registry';
import { AgentMetrics, timedSymbolizer } from './metrics/agent-metrics';
import { MetricsServer } from './metrics/metrics-server';
import type { TracingRun } from './runs/tracing-run';
import { listProcessUsdt, readUsdtProbes, type UsdtProbe } from './usdt/stapsdt';
import { existsSync } from 'node:fs';
import { UnwindService } from './unwind/unwind-service';
import { MemoryReleaser } from './memory';
import { Admission, jobTypeOf } from './policy-admission';
import { DEFAULT_POLICY, describePolicy } from './policy';
import { Outbox } from './delivery/outbox';
import { GroupTarget } from './runs/group-target';

type AllNativeParts = RunNativeParts & {
    /** malloc_trim(0) once runs have ended (MemoryReleaser); absent: nothing is trimmed. */
    releaseMemory?: () => boolean;
    /** glibc's fixed thresholds, set once when the agent starts (native fixMallocThresholds); absent: glibc's defaults. */
    fixMallocThresholds?: () => boolean;
  };

function realNative(cfg: AgentConfig, log: (msg: string) => void): AllNativeParts {
  return {
    // Each job type's own tracer factories (its RunType's native()); below, what runs of several types share.
    ...realTracers(),
    createSymbolizer: () => new Symbolizer({ perfMapMaxBytes: cfg.perfMapBytes }),
    unwind: cfg.unwind === 'tables' ? new UnwindService(() => new Unwinder({ maxTableBytes: cfg.unwindTableBytes }), log) : undefined,
    releaseMemory,
    fixMallocThresholds,
  };
}

/** Owns the controller link and the runs on this node. */
export class Agent {
  private readonly runs = new Map<string, TracingRun>();
  private readonly link: ControllerLink;
  /** Every run message goes through it: kept until the controller acknowledges it, sent again after a reconnect. */
  private readonly outbox: Outbox;
  private readonly identity: NodeCredentials;
  private readonly memory: MemoryReleaser;
  /** The node's policy: concurrent runs and kernel memory of running runs, counted here. */
  private readonly admission: Admission;
  /** Prometheus metrics and the health port, when TRACEFLEET_AGENT_METRICS_ADDR is set. */
  readonly metrics: AgentMetrics | undefined;
  private readonly metricsServer: MetricsServer | undefined;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly log: (msg: string) => void = (m) => console.log(`[agent ${cfg.nodeName}] ${m}`),
    private readonly native: AllNativeParts = realNative(cfg, log),
    /** The controller refused this agent for good (another agent holds its node name); main.ts stops the process. */
    private readonly onRefused: (reason: string) => void = () => undefined,
  ) {
    this.identity = new NodeCredentials(cfg.identity, cfg.nodeName, log, () => this.link.controllerAddr);
    this.link = new ControllerLink(cfg, {
      onMessage: (msg) => this.onMessage(msg),
      onConnected: () => this.outbox.onConnected(),
      // Runs go on without the link: the outbox keeps their results until a session acknowledges them.
      onSessionLost: () => this.outbox.onDisconnected(),
      onRefused: (why) => this.onRefused(why),
      // Revoked: what the runs take could never be delivered. They stop (and detach) now.
      onCredentialsRefused: (why) => {
        for (const run of this.runs.values()) run.stop(`the controller refused this node's certificate (${why}); its results cannot be delivered`);
      },
    }, log, this.identity);
    this.outbox = new Outbox(this.link, { memoryBytes: cfg.outboxBytes, spoolBytes: cfg.spoolBytes, spoolDir: cfg.spoolDir, log });
    this.link.runningRunIds = () => [...this.runs.keys()];
    this.link.heldRunIds = () => [...new Set([...this.runs.keys(), ...this.outbox.heldRunIds()])];
    this.memory = new MemoryReleaser(native.releaseMemory ?? (() => false), log);
    if (native.fixMallocThresholds && !native.fixMallocThresholds()) log('glibc refused fixed malloc thresholds: freed large blocks may stay in RSS until runs end');
    const policy = cfg.policy ?? { ...DEFAULT_POLICY, source: 'defaults' };
    this.admission = new Admission(policy);
    log(describePolicy(policy));
    if (cfg.metrics) {
      const metrics = new AgentMetrics({ jobTypes: JOB_TYPES, linkUp: () => this.link.connected });
      const createSymbolizer = native.createSymbolizer;
      this.native = { ...native, createSymbolizer: () => timedSymbolizer(createSymbolizer(), metrics.symbolizeSeconds) };
      this.metrics = metrics;
      this.metricsServer = new MetricsServer({
        ...cfg.metrics,
        scrape: () => metrics.scrape(),
        notReady: () => this.link.notReadyReason,
      });
    }
  }

  /** Gets the node's certificate (kept, or enrolled), then opens the link. Rejects with IdentityError when it cannot. */
  async start(): Promise<void> {
    // First, so liveness answers (and readiness says why not) while the node enrolls.
    const addr = await this.metricsServer?.start();
    if (addr) this.log(`metrics and health on http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/metrics`);
    await this.identity.ensure();
    this.outbox.open();
    this.link.start();
  }

  /**
   * Stops every run (each detaches its probes), waits for the controller to acknowledge their last
   * results, and closes the link, within deadlineMs. What is still unacknowledged then is lost with
   * the process (the spool is not resumed by the next agent process yet).
   */
  async shutdown(deadlineMs = 5000): Promise<void> {
    const until = Date.now() + deadlineMs;
    const pending = [...this.runs.values()].map((run) => {
      run.stop('agent shutting down');
      return new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (!this.runs.has(run.runId)) {
            clearInterval(t);
            resolve();
          }
        }, 20);
      });
    });
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, deadlineMs))]);
    if (!(await this.outbox.drained(Math.max(0, until - Date.now())))) {
      const st = this.outbox.stats();
      this.log(`shutting down with ${st.messages} run message(s) of ${st.runs} run(s) not acknowledged by the controller; they are lost`);
    }
    this.outbox.close();
    this.memory.close();
    this.identity.close();
    await this.link.close();
    await this.metricsServer?.close();
  }

  private onMessage(msg: ControllerMessage): void {
    switch (msg.msg?.$case) {
      case 'startRun':
        this.startRun(msg.msg.value);
        break;
      case 'ack':
        this.outbox.onAck(msg.msg.value.runId, msg.msg.value.delivery);
        break;
      case 'stopRun':
        this.runs.get(msg.msg.value.runId)?.stop(msg.msg.value.reason || 'stopped by the controller');
        break;
      case 'checkTarget':
        this.checkTarget(msg.msg.value);
        break;
      case 'listUsdt':
        this.answerListUsdt(msg.msg.value);
        break;
      default:
        this.log(`ignoring unexpected controller message ${msg.msg?.$case ?? '(empty)'}`);
    }
  }

  private startRun(start: StartRun): void {
    if (this.runs.has(start.runId)) return; // a re-delivered start for a run already going
    const ticket = this.admission.admit(start);
    if ('refused' in ticket) {
      this.refuseRun(start, ticket.refused);
      return;
    }
    let run: TracingRun;
    try {
      run = this.createRun(start);
    } catch (err) {
      ticket.release();
      throw err;
    }
    this.runs.set(start.runId, run);
    this.metrics?.runStarted(run, jobTypeOf(start), ticket.kernelBytes);
    this.memory.runStarted();
    const at = Number(start.startAtUnixMs);
    this.log(`run ${start.runId} (job ${start.jobId}) starting${at ? ` at ${new Date(at).toISOString()}` : ''}`);
    run
      .run()
      .catch((err) => this.log(`run ${start.runId} crashed: ${err instanceof Error ? err.stack : err}`))
      .finally(() => {
        ticket.release();
        this.runs.delete(start.runId);
        this.metrics?.runEnded(run);
        this.log(`run ${start.runId} finished`);
        this.memory.afterRun(this.runs.size);
      });
  }

  /** A run outside this node's policy fails here with the reason; nothing is loaded. */
  private refuseRun(start: StartRun, reason: string): void {
    this.log(`run ${start.runId} (job ${start.jobId}) refused: ${reason}`);
    this.outbox
      .send({
        msg: {
          $case: 'runFinished',
          value: {
            runId: start.runId,
            ok: false,
            reason: `refused by node ${this.cfg.nodeName}: ${reason}`,
            targetExited: false,
            samplesTaken: 0n,
            samplesDroppedKernel: 0n,
            samplesDroppedAgent: 0n,
            samplesSent: 0n,
            lastSeq: 0n,
            unwind: undefined,
            batchesSpooled: 0n,
            batchesOverflowed: 0n,
          },
        },
      })
      .catch((err) => this.log(`could not report the refusal of run ${start.runId}: ${err.message}`));
  }

  private createRun(start: StartRun): TracingRun {
    return runTypeOf(start).create(start, this.cfg, this.outbox, this.native, this.log);
  }

  private checkTarget(req: CheckTarget): void {
    const kind = req.target?.kind;
    let found = false;
    let detail = '';
    if (kind?.$case === 'pid') {
      found = processExists(kind.value);
      detail = found ? `pid ${kind.value} is ${readComm(kind.value) ?? '?'}` : `pid ${kind.value} does not exist`;
    } else if (kind?.$case === 'comm') {
      const pids = pidsWithComm(kind.value);
      found = pids.length > 0;
      detail = found ? `${pids.length} process(es) named ${kind.value}` : `no process named ${kind.value} is running`;
    } else if (kind?.$case === 'all') {
      found = true;
    } else if (kind?.$case === 'cgroup' || kind?.$case === 'container') {
      try {
        const group = GroupTarget.from(req.target, this.cfg.nodeName)!;
        found = true;
        detail = `${group.describe()}: ${group.pids().length} process(es)`;
      } catch (err) {
        detail = (err as Error).message;
      }
    }
    this.link
      .send({ msg: { $case: 'targetCheckResult', value: { requestId: req.requestId, found, detail } } })
      .catch((err) => this.log(`could not answer target check: ${err.message}`));
  }

  private answerListUsdt(req: ListUsdt): void {
    const answer: UsdtListResult = { requestId: req.requestId, probes: [], error: '' };
    try {
      let probes: UsdtProbe[];
      if (req.source?.$case === 'binary') {
        // readUsdtProbes opens regular files only (safe-file.ts): a FIFO, a device, a directory or a
        // socket is refused at once with the reason, never opened.
        if (!existsSync(req.source.value)) throw new Error(`binary ${req.source.value} does not exist on node ${this.cfg.nodeName}`);
        probes = readUsdtProbes(req.source.value);
      } else if (req.source?.$case === 'pid') {
        if (!processExists(req.source.value)) throw new Error(`pid ${req.source.value} does not exist on node ${this.cfg.nodeName}`);
        probes = listProcessUsdt(req.source.value);
      } else {
        throw new Error('the request names neither a binary nor a pid');
      }
      answer.probes = probes.map((p) => ({
        provider: p.provider,
        name: p.name,
        path: p.path,
        fileOffset: p.fileOffset,
        semaphore: p.semaphore,
        args: p.args.map((a) => ({ size: a.signed ? -a.size : a.size, location: a.location })),
      }));
    } catch (err) {
      answer.error = err instanceof Error ? err.message : String(err);
    }
    this.link
      .send({ msg: { $case: 'usdtListResult', value: answer } })
      .catch((err) => this.log(`could not answer a usdt listing: ${err.message}`));
  }
}
