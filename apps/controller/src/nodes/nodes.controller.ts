import { BadRequestException, Controller, Get, NotFoundException, Param, Query, UnprocessableEntityException } from '@nestjs/common';
import type { UsdtProbeInfo } from '@tracefleet/proto';
import { AgentGateway } from '../agents/agent.gateway';
import { NodesService, type NodeView } from './nodes.service';

@Controller('nodes')
export class NodesController {
  constructor(
    private readonly nodes: NodesService,
    private readonly agents: AgentGateway,
  ) {}

  @Get()
  list(): Promise<NodeView[]> {
    return this.nodes.list((name) => this.agents.isConnected(name));
  }

  /** USDT probes the node finds in ?binary=PATH, or in ?pid=N's executable and mapped libraries. */
  @Get(':name/usdt')
  async usdt(@Param('name') name: string, @Query('binary') binary?: string, @Query('pid') pid?: string) {
    if ((binary === undefined) === (pid === undefined)) throw new BadRequestException({ statusCode: 400, message: ['give exactly one of binary or pid'] });
    if (binary !== undefined && (!binary.startsWith('/') || binary.length > 4096)) {
      throw new BadRequestException({ statusCode: 400, message: ['binary must be an absolute path'] });
    }
    const pidNum = Number(pid);
    if (pid !== undefined && (!/^\d+$/.test(pid) || pidNum < 1 || pidNum > 4_194_304)) {
      throw new BadRequestException({ statusCode: 400, message: ['pid must be a process id'] });
    }
    const source = binary !== undefined ? { $case: 'binary' as const, value: binary } : { $case: 'pid' as const, value: pidNum };
    const answer = await this.agents.listUsdt(name, source);
    if (answer === null) throw new NotFoundException(`node ${name} is not connected`);
    if (answer === undefined) throw new UnprocessableEntityException(`node ${name} did not answer within 15 s`);
    if (answer.error) throw new UnprocessableEntityException({ statusCode: 422, message: [answer.error] });
    return {
      node: name,
      probes: answer.probes.map((p: UsdtProbeInfo) => ({
        provider: p.provider,
        name: p.name,
        path: p.path,
        fileOffset: `0x${p.fileOffset.toString(16)}`,
        semaphore: p.semaphore ? `0x${p.semaphore.toString(16)}` : null,
        args: p.args.map((a) => ({ size: Math.abs(a.size), signed: a.size < 0, location: a.location })),
      })),
    };
  }
}
