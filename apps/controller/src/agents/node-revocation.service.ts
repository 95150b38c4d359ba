import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import { NodeCertificatesService } from '../enrollment/node-certificates.service';
import { AgentRouter } from './agent-router';
import { RunsService } from '../runs/runs.service';

export interface NodeRevocation {
  name: string;
  /** Certificates of the node that were valid until now and are revoked. */
  certificatesRevoked: number;
  /** Whether a live session was found and told to end (here or on its replica). */
  sessionEnded: boolean;
  revokedAt: string;
}

/**
 * DELETE /nodes/:name: every certificate issued to the node is revoked (the agent link refuses them
 * from the next handshake or registration on), the node is marked gone, and its live session ends.
 * The node's history (jobs, runs) stays. To admit it again: a new bootstrap token, and the agent
 * enrolls afresh.
 */
@Injectable()
export class NodeRevocationService {
  private readonly log = new Logger(NodeRevocationService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly certs: NodeCertificatesService,
    private readonly router: AgentRouter,
    private readonly runs: RunsService,
  ) {}

  async revoke(name: string): Promise<NodeRevocation> {
    const node = await this.prisma.node.findUnique({ where: { name }, select: { id: true, replicaId: true } });
    const certificatesRevoked = await this.certs.revoke(name);
    const hadCerts = certificatesRevoked > 0 || (await this.prisma.nodeCertificate.count({ where: { nodeName: name } })) > 0;
    if (!node && !hadCerts) throw new NotFoundException(`node ${name} not found`);
    const revokedAt = new Date();
    const reason = `node ${name} was revoked at ${revokedAt.toISOString()}`;
    if (node) {
      // Clearing sessionId also makes the holding replica's next heartbeat flush close the stream, should the command below be lost.
      await this.prisma.node.update({ where: { id: node.id }, data: { status: 'gone', statusReason: 'revoked', statusChangedAt: revokedAt, replicaId: null, sessionId: null } });
    }
    const sessionEnded = await this.router.endSession(name, node?.replicaId ?? null, reason);
    // Its runs end now: a revoked agent cannot come back to deliver them.
    if (node) await this.runs.failNodeRuns(node.id, reason);
    this.log.warn(`${reason}: ${certificatesRevoked} certificate(s) revoked${sessionEnded ? ', session ended' : ''}`);
    return { name, certificatesRevoked, sessionEnded, revokedAt: revokedAt.toISOString() };
  }
}
