import { Controller, Get } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { PrismaService } from '../prisma/prisma.service';
import { AgentGateway } from '../agents/agent.gateway';
import { ENV, type ControllerEnv } from '../config/env';
import { Inject } from '@nestjs/common';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly agents: AgentGateway,
  ) {}

  @Public()
  @Get()
  async health(): Promise<{ status: string; replicaId: string; agentsConnected: number; grpc: string }> {
    await this.prisma.$queryRaw`SELECT 1`;
    // agentsConnected: sessions held by this replica; GET /nodes shows the whole fleet.
    return { status: 'ok', replicaId: this.env.replicaId, agentsConnected: this.agents.connectedNodeNames().length, grpc: this.agents.boundAddress };
  }
}
