import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { JobQueue } from '../queue/job-queue';
import { RunsService } from '../runs/runs.service';
import { AgentRouter } from './agent-router';
import { NodesService, type SweptNode } from '../nodes/nodes.service';

/**
 * Node liveness across replicas: a BullMQ job scheduler runs the sweep every TRACEFLEET_NODE_SWEEP_MS
 * on whichever replica takes it (one per tick fleet-wide, and it keeps running when a replica dies).
 * A node that fell silent becomes unreachable and its runs fail with the reason; the agent is
 * still told to stop them, in case it was only paused.
 */
@Injectable()
export class NodeSweepService implements OnModuleInit {
  private readonly log = new Logger(NodeSweepService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly queue: JobQueue,
    private readonly nodes: NodesService,
    private readonly runs: RunsService,
    private readonly router: AgentRouter,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('node-sweep', this.env.nodeSweepMs, () => this.sweep());
  }

  async sweep(now = Date.now()): Promise<SweptNode[]> {
    const swept = await this.nodes.sweep(now);
    for (const n of swept) {
      this.log.log(`node ${n.name}: ${n.from} → ${n.to} (${n.reason})`);
      if (n.from !== 'connected') continue;
      const failed = await this.runs.failNodeRuns(n.id, `node ${n.name} unreachable: ${n.reason}`);
      for (const runId of failed) await this.router.stopRun(runId, n.name, `node was unreachable: ${n.reason}`).catch(() => undefined);
    }
    return swept;
  }
}
