import { Controller, Get } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { PrismaService } from '../prisma/prisma.service';
import { AgentGateway } from '../agents/agent.gateway';

@Controller('health')
export class HealthController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly agents: AgentGateway,
  ) {}

  @Public()
  @Get()
  async health(): Promise<{ status: string; agentsConnected: number; grpc: string }> {
    await this.prisma.$queryRaw`SELECT 1`;
    return { status: 'ok', agentsConnected: this.agents.connectedNodeNames().length, grpc: this.agents.boundAddress };
  }
}
