import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { AgentGateway } from '../agents/agent.gateway';
import { ENV, type ControllerEnv } from '../config/env';
import { orAfter } from '../common/or-after';

/** How long /health/ready waits for PostgreSQL and for Redis before calling either down. */
export const READY_TIMEOUT_MS = 2000;

type Check = 'ok' | string;

async function check(what: string, work: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  try {
    await orAfter(work(), timeoutMs, (): never => {
      throw new Error(`no answer within ${timeoutMs} ms`);
    });
    return 'ok';
  } catch (err) {
    // The first line only: a driver error can be long, and never carries the URL's password here.
    return `${what}: ${(err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean).at(-1) ?? 'failed'}`.slice(0, 300);
  }
}

@Controller('health')
export class HealthController {
  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly agents: AgentGateway,
    private readonly queue: JobQueue,
  ) {}

  @Public()
  @Get()
  async health(): Promise<{ status: string; replicaId: string; agentsConnected: number; grpc: string }> {
    await this.prisma.$queryRaw`SELECT 1`;
    // agentsConnected: sessions held by this replica; GET /nodes shows the whole fleet.
    return { status: 'ok', replicaId: this.env.replicaId, agentsConnected: this.agents.connectedNodeNames().length, grpc: this.agents.boundAddress };
  }

  /** The process is up and answering HTTP; nothing else is asked (a liveness probe must not restart us for a database outage). */
  @Public()
  @Get('live')
  live(): { status: string; replicaId: string } {
    return { status: 'ok', replicaId: this.env.replicaId };
  }

  /** PostgreSQL answers SELECT 1 and Redis answers PING, each within READY_TIMEOUT_MS; 503 names which did not. */
  @Public()
  @Get('ready')
  async ready(): Promise<{ status: string; replicaId: string; checks: { postgres: Check; redis: Check } }> {
    const [postgres, redis] = await Promise.all([
      check('postgres', () => this.prisma.$queryRaw`SELECT 1`, READY_TIMEOUT_MS),
      check('redis', () => this.queue.ping(READY_TIMEOUT_MS), READY_TIMEOUT_MS),
    ]);
    const checks = { postgres, redis };
    if (postgres !== 'ok' || redis !== 'ok') {
      const down = [postgres, redis].filter((c) => c !== 'ok');
      throw new HttpException({ statusCode: 503, error: 'Service Unavailable', message: down, checks }, 503);
    }
    return { status: 'ok', replicaId: this.env.replicaId, checks };
  }
}
