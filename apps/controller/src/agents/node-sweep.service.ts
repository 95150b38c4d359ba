import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { JobQueue } from '../queue/job-queue';
import { AgentRouter } from './agent-router';
import { NodesService, type SweptNode } from '../nodes/nodes.service';
import { RunHandover } from '../runs/run-handover';

/**
 * Node liveness across replicas: a BullMQ job scheduler runs the sweep every TRACEFLEET_NODE_SWEEP_MS
 * on whichever replica takes it (one per tick fleet-wide, and it keeps running when a replica dies).
 * A node that fell silent becomes unreachable (no new runs go to it); its runs go on until it has been
 * silent past TRACEFLEET_RUN_GRACE_MS (its agent keeps their results meanwhile), then fail with the
 * reason, and the agent is still told to stop them, in case it was only paused.
 */
@Injectable()
export class NodeSweepService implements OnModuleInit {
  private readonly log = new Logger(NodeSweepService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly queue: JobQueue,
    private readonly nodes: NodesService,
    private readonly handover: RunHandover,
    private readonly router: AgentRouter,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('node-sweep', this.env.nodeSweepMs, () => this.sweep());
  }

  /**
   * Since when this replica has been able to hear agents without a break: from its first sweep, again
   * after a sweep that failed (PostgreSQL down). Silence the controller itself caused (it was down, or
   * could not record heartbeats) does not count against an agent: its runs fail only once this replica
   * has listened for a whole grace period and the agent stayed silent through it.
   */
  private listeningSince: number | undefined;

  async sweep(now = Date.now()): Promise<SweptNode[]> {
    let swept: SweptNode[];
    try {
      swept = await this.nodes.sweep(now);
    } catch (err) {
      this.listeningSince = undefined;
      throw err;
    }
    this.listeningSince ??= now;
    for (const n of swept) this.log.log(`node ${n.name}: ${n.from} → ${n.to} (${n.reason})`);
    if (now - this.listeningSince < this.env.runGraceMs) return swept;
    for (const r of await this.handover.failSilent(now, this.env.runGraceMs)) {
      this.log.warn(`run ${r.runId} failed: ${r.reason}`);
      await this.router.stopRun(r.runId, r.nodeName, r.reason).catch(() => undefined);
    }
    return swept;
  }
}
