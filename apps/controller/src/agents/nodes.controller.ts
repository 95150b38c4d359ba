import { BadRequestException, Controller, Delete, Get, NotFoundException, Param, Query, UnprocessableEntityException } from '@nestjs/common';
import type { UsdtProbeInfo } from '@tracefleet/proto';
import { AgentRouter } from './agent-router';
import { NAME_RE, parseLabelSelectorString } from '../nodes/selector';
import type { NodeState } from '../nodes/node-status';
import { NodesService, type NodeFilter, type NodeView } from '../nodes/nodes.service';
import { NodeRevocationService, type NodeRevocation } from './node-revocation.service';
import { RequireScopes } from '../auth/scopes';
import { Audit } from '../audit/audit.decorator';

const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const STATES: readonly NodeState[] = ['connected', 'unreachable', 'gone'];

function bad(message: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [message] });
}

/** Parses GET /nodes filters; errors name the parameter. */
export function parseNodeFilter(q: { status?: string; labelSelector?: string; capability?: string; namePrefix?: string }): NodeFilter {
  const filter: NodeFilter = {};
  if (q.status !== undefined) {
    const states = q.status.split(',').map((s) => s.trim());
    for (const s of states) if (!STATES.includes(s as NodeState)) bad(`status must be a comma-separated list of ${STATES.join(', ')} (got "${s}")`);
    filter.status = states as NodeState[];
  }
  if (q.labelSelector !== undefined) {
    if (q.labelSelector.length > 4096) bad('labelSelector is longer than 4096 characters');
    const parsed = parseLabelSelectorString(q.labelSelector);
    if (parsed.labels || parsed.expressions) filter.selector = { all: false, ...parsed };
  }
  if (q.capability !== undefined) {
    if (!NAME_RE.test(q.capability)) bad('capability must be a capability name such as cpu-profile');
    filter.capability = q.capability;
  }
  if (q.namePrefix !== undefined) {
    if (q.namePrefix.length > 63 || !/^[A-Za-z0-9._/-]*$/.test(q.namePrefix)) bad('namePrefix must be up to 63 letters, digits, . _ / -');
    filter.namePrefix = q.namePrefix;
  }
  return filter;
}

@Controller('nodes')
export class NodesController {
  constructor(
    private readonly nodes: NodesService,
    private readonly router: AgentRouter,
    private readonly revocation: NodeRevocationService,
  ) {}

  /** The fleet, from any replica: ?status=connected,unreachable &labelSelector=env=prod,zone in (a,b) &capability= &namePrefix= */
  @Get()
  list(
    @Query('status') status?: string,
    @Query('labelSelector') labelSelector?: string,
    @Query('capability') capability?: string,
    @Query('namePrefix') namePrefix?: string,
  ): Promise<NodeView[]> {
    return this.nodes.list(parseNodeFilter({ status, labelSelector, capability, namePrefix }));
  }

  @Get(':name')
  async get(@Param('name') name: string): Promise<NodeView> {
    const [node] = (await this.nodes.list({ namePrefix: name })).filter((n) => n.name === name);
    if (!node) throw new NotFoundException(`node ${name} not found`);
    return node;
  }

  /** Revokes the node's certificates and ends its session (scope ssl-capture: the fleet's admin token). */
  @Delete(':name')
  @RequireScopes('ssl-capture')
  @Audit('node.revoke', 'node')
  revoke(@Param('name') name: string): Promise<NodeRevocation> {
    if (!NODE_NAME.test(name)) bad('name must be a node name: 1-63 letters, digits, . _ / -');
    return this.revocation.revoke(name);
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
    const answer = await this.router.listUsdt(name, source);
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
