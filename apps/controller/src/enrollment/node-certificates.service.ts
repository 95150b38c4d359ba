import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { checkCsr, CertificateError, issueNodeCert, NODE_NAME_RE, type IssuedNodeCert, type NodeIdentity } from '@tracefleet/pki';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { FleetCaService } from './fleet-ca.service';
import { EnrollError, hashToken, newToken, tokenRefusal, TOKEN_RE } from './bootstrap-token';

export interface CreatedBootstrapToken {
  id: string;
  /** Shown once; only its SHA-256 is stored. */
  token: string;
  maxUses: number;
  expiresAt: string;
  nodeName: string | null;
  description: string | null;
}

/**
 * Node certificates and the bootstrap tokens exchanged for them (PostgreSQL): enrollment, renewal,
 * the check the agent link makes on every session, and revocation.
 */
@Injectable()
export class NodeCertificatesService implements OnApplicationBootstrap {
  private readonly log = new Logger(NodeCertificatesService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly fleetCa: FleetCaService,
  ) {}

  /**
   * TRACEFLEET_ENROLLMENT_TOKEN (the set-up's .env token, what `npm start` and the tests enroll with)
   * is a bootstrap token like any other: registered at the first boot that sees it, with
   * TRACEFLEET_ENROLLMENT_TOKEN_USES uses for TRACEFLEET_ENROLLMENT_TOKEN_TTL_HOURS. Later boots and
   * other replicas keep the row as it is, so restarts do not give it more uses or time.
   */
  async onApplicationBootstrap(): Promise<void> {
    const expiresAt = new Date(Date.now() + this.env.enrollmentTokenTtlHours * 3_600_000);
    // INSERT ... ON CONFLICT DO NOTHING: replicas booting together race here, and an upsert's separate find and
    // insert let the slower one fail on the unique token hash (seen with two replicas in e2e).
    await this.prisma.bootstrapToken.createMany({
      data: [{ tokenHash: hashToken(this.env.enrollmentToken), maxUses: this.env.enrollmentTokenUses, expiresAt, createdBy: 'env', description: 'TRACEFLEET_ENROLLMENT_TOKEN' }],
      skipDuplicates: true,
    });
  }

  async createToken(opts: { maxUses?: number; ttlSec?: number; nodeName?: string; description?: string }, createdBy: string): Promise<CreatedBootstrapToken> {
    const token = newToken();
    const row = await this.prisma.bootstrapToken.create({
      data: {
        tokenHash: hashToken(token),
        maxUses: opts.maxUses ?? 1,
        expiresAt: new Date(Date.now() + (opts.ttlSec ?? 3600) * 1000),
        nodeName: opts.nodeName ?? null,
        description: opts.description ?? null,
        createdBy,
      },
    });
    return { id: row.id, token, maxUses: row.maxUses, expiresAt: row.expiresAt.toISOString(), nodeName: row.nodeName, description: row.description };
  }

  /**
   * Enrollment: a CSR and a bootstrap token for `nodeName`. Checks the CSR first (nothing is counted
   * for a malformed request), then, in one transaction, counts the token's use only if it is known,
   * unexpired, not used up and allowed for this name, refuses a name that holds a live certificate
   * unless the token is bound to it, issues and records the certificate.
   */
  async enroll(nodeName: string, csrPem: string, token: string): Promise<IssuedNodeCert> {
    if (!TOKEN_RE.test(token)) throw new EnrollError(status.UNAUTHENTICATED, 'missing or malformed bootstrap token (authorization: Bearer <token>)');
    if (!NODE_NAME_RE.test(nodeName)) throw new EnrollError(status.INVALID_ARGUMENT, `node name ${JSON.stringify(nodeName.slice(0, 80))} is not valid`);
    const publicKey = await this.checked(csrPem, nodeName);
    const tokenHash = hashToken(token);
    const now = new Date();
    return this.prisma.$transaction(async (tx) => {
      const used = await tx.$queryRaw<{ id: string; nodeName: string | null }[]>`
        UPDATE "BootstrapToken" SET "uses" = "uses" + 1, "lastUsedAt" = ${now.toISOString()}::timestamp(3)
        WHERE "tokenHash" = ${tokenHash} AND "uses" < "maxUses" AND "expiresAt" > ${now.toISOString()}::timestamp(3)
          AND ("nodeName" IS NULL OR "nodeName" = ${nodeName})
        RETURNING "id"::text AS "id", "nodeName"`;
      if (used.length === 0) {
        const row = await tx.bootstrapToken.findUnique({ where: { tokenHash } });
        throw tokenRefusal(row, nodeName, now) ?? new EnrollError(status.ABORTED, 'bootstrap token changed meanwhile; try again');
      }
      const [{ id: tokenId, nodeName: boundTo }] = used;
      if (boundTo === null) {
        const live = await tx.nodeCertificate.findFirst({ where: { nodeName, caFingerprint: this.fleetCa.caFingerprint, revokedAt: null, notAfter: { gt: now } }, orderBy: { notAfter: 'desc' } });
        if (live) {
          throw new EnrollError(
            status.ALREADY_EXISTS,
            `node ${nodeName} already holds a certificate valid until ${live.notAfter.toISOString()}: revoke it (DELETE /api/v1/nodes/${nodeName}) or enroll with a token made for that node name`,
          );
        }
      }
      const issued = await issueNodeCert(this.fleetCa.ca, nodeName, publicKey, this.env.nodeCertLifetimeSec * 1000);
      await tx.nodeCertificate.create({ data: { serial: issued.serial, nodeName, notBefore: issued.notBefore, notAfter: issued.notAfter, caFingerprint: this.fleetCa.caFingerprint, via: 'enroll', bootstrapTokenId: tokenId } });
      this.log.log(`enrolled node ${nodeName}: certificate ${issued.serial} until ${issued.notAfter.toISOString()}`);
      return issued;
    });
  }

  /** Renewal over the node's mutual-TLS link: a new certificate for the name the presented one carries. */
  async renew(peer: NodeIdentity, csrPem: string): Promise<IssuedNodeCert> {
    const refusal = await this.refusal(peer);
    if (refusal) throw new EnrollError(status.PERMISSION_DENIED, refusal);
    const publicKey = await this.checked(csrPem, peer.nodeName);
    const issued = await issueNodeCert(this.fleetCa.ca, peer.nodeName, publicKey, this.env.nodeCertLifetimeSec * 1000);
    await this.prisma.nodeCertificate.create({
      data: {
        serial: issued.serial,
        nodeName: peer.nodeName,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        caFingerprint: this.fleetCa.caFingerprint,
        via: 'renew',
        renewedFrom: peer.serial,
      },
    });
    this.log.log(`renewed node ${peer.nodeName}: certificate ${issued.serial} until ${issued.notAfter.toISOString()} (was ${peer.serial})`);
    return issued;
  }

  /** Why the agent link refuses a peer certificate (unknown to this fleet, revoked, expired), or null. */
  async refusal(peer: NodeIdentity): Promise<string | null> {
    return (await this.refusals([peer]))[0];
  }

  /** `refusal` of many peers in one read (a fleet registering at once: agents/agent-registrar.ts), in their order. */
  async refusals(peers: readonly NodeIdentity[]): Promise<(string | null)[]> {
    const rows = await this.prisma.nodeCertificate.findMany({ where: { serial: { in: [...new Set(peers.map((p) => p.serial))] } } });
    const bySerial = new Map(rows.map((r) => [r.serial, r]));
    const now = Date.now();
    return peers.map((peer) => {
      const row = bySerial.get(peer.serial);
      if (!row || row.nodeName !== peer.nodeName || row.caFingerprint !== this.fleetCa.caFingerprint) {
        return `certificate ${peer.serial} was not issued to node ${peer.nodeName} by this fleet's CA`;
      }
      if (row.revokedAt) return `certificate ${peer.serial} of node ${peer.nodeName} was revoked at ${row.revokedAt.toISOString()}`;
      if (row.notAfter.getTime() <= now) return `certificate ${peer.serial} of node ${peer.nodeName} expired at ${row.notAfter.toISOString()}`;
      return null;
    });
  }

  /** Revokes every certificate of the node; returns how many were still unrevoked. */
  async revoke(nodeName: string): Promise<number> {
    const r = await this.prisma.nodeCertificate.updateMany({ where: { nodeName, revokedAt: null }, data: { revokedAt: new Date() } });
    return r.count;
  }

  private async checked(csrPem: string, nodeName: string) {
    try {
      return await checkCsr(csrPem, nodeName);
    } catch (err) {
      if (err instanceof CertificateError) throw new EnrollError(status.INVALID_ARGUMENT, err.message);
      throw err;
    }
  }
}
