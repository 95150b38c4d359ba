import { Injectable } from '@nestjs/common';
import type { Register } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';

export interface NodeView {
  id: string;
  name: string;
  labels: Record<string, string>;
  kernelRelease: string;
  btf: boolean;
  capabilities: string[];
  agentVersion: string;
  status: string;
  connected: boolean;
  lastSeenAt: string;
}

@Injectable()
export class NodesService {
  constructor(private readonly prisma: PrismaService) {}

  async register(reg: Register): Promise<string> {
    const data = {
      labels: reg.labels,
      kernelRelease: reg.kernelRelease,
      btf: reg.btf,
      protocolVersion: reg.protocolVersion,
      capabilities: reg.capabilities,
      agentVersion: reg.agentVersion,
      status: 'online' as const,
      connectedAt: new Date(),
      lastSeenAt: new Date(),
    };
    const node = await this.prisma.node.upsert({
      where: { name: reg.nodeName },
      create: { name: reg.nodeName, ...data },
      update: data,
      select: { id: true },
    });
    return node.id;
  }

  async touch(nodeId: string): Promise<void> {
    await this.prisma.node.update({ where: { id: nodeId }, data: { lastSeenAt: new Date() } });
  }

  async markOffline(nodeId: string): Promise<void> {
    await this.prisma.node.update({ where: { id: nodeId }, data: { status: 'offline' } });
  }

  async list(connected: (name: string) => boolean): Promise<NodeView[]> {
    const nodes = await this.prisma.node.findMany({ orderBy: { name: 'asc' } });
    return nodes.map((n) => ({
      id: n.id,
      name: n.name,
      labels: n.labels as Record<string, string>,
      kernelRelease: n.kernelRelease,
      btf: n.btf,
      capabilities: n.capabilities,
      agentVersion: n.agentVersion,
      status: n.status,
      connected: connected(n.name),
      lastSeenAt: n.lastSeenAt.toISOString(),
    }));
  }
}
