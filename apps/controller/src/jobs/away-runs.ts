import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import { ACTIVE_RUN } from '../common/run-status';

/**
 * The job's active runs whose agent is away but still within the run grace period: the deadline spares
 * them (the agent keeps their results and delivers them when it is back) and looks again later.
 *
 * Away is what the rows say (no session, or not connected) and also a node the controller has not heard
 * from within TRACEFLEET_NODE_UNREACHABLE_MS while its row still says connected: when PostgreSQL was down
 * as a session ended, the write that marks the node unreachable failed, and only the node sweep puts it
 * right later. Such a row cannot tell an agent that is silent from a controller that could not listen, so
 * the run waits for the agent (or for the grace period to end) instead of failing for the controller's outage.
 */
export async function awayRunIds(
  prisma: PrismaService,
  jobId: string,
  now: number,
  env: Pick<ControllerEnv, 'runGraceMs' | 'nodeUnreachableMs'>,
): Promise<string[]> {
  const rows = await prisma.jobRun.findMany({
    where: {
      jobId,
      status: { in: [...ACTIVE_RUN] },
      node: {
        OR: [{ sessionId: null }, { status: { not: 'connected' } }, { lastSeenAt: { lt: new Date(now - env.nodeUnreachableMs) } }],
        lastSeenAt: { gte: new Date(now - env.runGraceMs) },
      },
    },
    select: { id: true },
  });
  return rows.map((r) => r.id);
}
