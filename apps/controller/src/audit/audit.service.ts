import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { IDENTITY_KEY, type ScopedRequest, type TokenIdentity } from '../auth/scopes';
import type { AuditTarget } from './audit.decorator';
import { outcomeOf, type AuditOutcome, type AuditQuery } from './audit-query';
import { requestIdOf } from './request-id';

const MAX_REASON = 500;

/** The request an audit entry is about and how it ended: the same in what is written and what is shown. */
export interface AuditRequestFacts {
  status: number;
  reason: string | null;
  method: string;
  path: string;
  requestId: string;
  remoteAddr: string | null;
}

export interface AuditRecord extends AuditRequestFacts {
  token: TokenIdentity;
  action: string;
  targetType: string;
  targetId: string | null;
  outcome: AuditOutcome;
}

export interface AuditEntryView extends AuditRequestFacts {
  id: string;
  at: string;
  token: { name: string; scopes: string[]; fingerprint: string };
  action: string;
  target: { type: string; id: string | null };
  outcome: string;
}

/** What a failed request's error says, for the log: its message, at most MAX_REASON characters. */
export function reasonOf(err: unknown): string {
  const res = err instanceof HttpException ? (err.getResponse() as { message?: unknown } | string) : undefined;
  const msg = typeof res === 'string' ? res : Array.isArray(res?.message) ? res.message.join('; ') : String(res?.message ?? (err as Error)?.message ?? err);
  return msg.slice(0, MAX_REASON);
}

/** Replaces any configured secret in `text` (a message that echoed a header, say) with a marker. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[token]');
  return out;
}

/** An id for the log from a route parameter or a response body: at most 128 safe characters, else null. */
export function safeId(v: unknown): string | null {
  return typeof v === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : null;
}

/** The audit log: who (token name, scopes, fingerprint — never the token) did what to which target, and how it ended. */
@Injectable()
export class AuditService {
  private readonly log = new Logger(AuditService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
  ) {}

  /** Stores one entry. A failure to store is logged, not thrown: the action it describes has already happened. */
  async record(r: AuditRecord): Promise<void> {
    const secrets = [this.env.apiToken, this.env.captureToken, this.env.enrollmentToken];
    try {
      await this.prisma.auditEntry.create({
        data: {
          tokenName: r.token.name,
          tokenScopes: r.token.scopes,
          tokenFingerprint: r.token.fingerprint,
          action: r.action,
          targetType: r.targetType,
          targetId: r.targetId,
          outcome: r.outcome,
          status: r.status,
          reason: r.reason === null ? null : scrub(r.reason, secrets),
          method: r.method,
          path: scrub(r.path, secrets).slice(0, 512),
          requestId: r.requestId,
          remoteAddr: r.remoteAddr,
        },
      });
    } catch (err) {
      this.log.error(`audit entry ${r.action} ${r.targetType}:${r.targetId ?? '-'} (${r.outcome}) not stored: ${(err as Error).message}`);
    }
  }

  /** Records an HTTP request to an audited route as it ended: `body` on success, `error` otherwise. */
  recordHttp(req: Request, target: AuditTarget, end: { status: number; body?: unknown; error?: unknown }): Promise<void> {
    const token = (req as ScopedRequest)[IDENTITY_KEY];
    if (!token) return Promise.resolve(); // public routes are not audited
    const params = (req.params ?? {}) as Record<string, unknown>;
    const fromBody = (end.body as { id?: unknown } | undefined)?.id;
    return this.record({
      token,
      action: target.action,
      targetType: target.targetType,
      targetId: safeId(target.idFrom === 'result' ? fromBody : (params.id ?? params.name)),
      outcome: outcomeOf(end.status),
      status: end.status,
      reason: end.error === undefined ? null : reasonOf(end.error),
      method: req.method,
      // The path without the query: a query may carry search text of captured plaintext (ssl-events?contains=).
      path: (req.originalUrl ?? req.url ?? '').split('?')[0],
      requestId: requestIdOf(req),
      remoteAddr: req.socket?.remoteAddress ?? null,
    });
  }

  /**
   * Newest first by time, then id: ids come from a sequence taken at insert, and `at` is the transaction's
   * start, so two concurrent requests can store them in opposite orders. Keyset pages on (at, id).
   */
  async list(q: AuditQuery): Promise<{ entries: AuditEntryView[]; nextCursor: string | null }> {
    const rows = await this.prisma.auditEntry.findMany({
      where: {
        ...(q.since ? { at: { gte: q.since } } : {}),
        ...(q.action ? ('exact' in q.action ? { action: q.action.exact } : { action: { startsWith: q.action.prefix } }) : {}),
        ...(q.target ? { targetType: q.target.type, ...(q.target.id !== undefined ? { targetId: q.target.id } : {}) } : {}),
        ...(q.outcome ? { outcome: q.outcome } : {}),
        ...(q.token ? { tokenFingerprint: q.token } : {}),
        ...(q.before !== undefined ? { OR: [{ at: { lt: q.before.at } }, { at: q.before.at, id: { lt: q.before.id } }] } : {}),
      },
      orderBy: [{ at: 'desc' }, { id: 'desc' }],
      take: q.limit,
    });
    const entries = rows.map(
      (r): AuditEntryView => ({
        id: r.id.toString(),
        at: r.at.toISOString(),
        token: { name: r.tokenName, scopes: r.tokenScopes, fingerprint: r.tokenFingerprint },
        action: r.action,
        target: { type: r.targetType, id: r.targetId },
        outcome: r.outcome,
        status: r.status,
        reason: r.reason,
        method: r.method,
        path: r.path,
        requestId: r.requestId,
        remoteAddr: r.remoteAddr,
      }),
    );
    const last = rows[rows.length - 1];
    return { entries, nextCursor: rows.length === q.limit ? `${last.at.getTime()}-${last.id}` : null };
  }
}
