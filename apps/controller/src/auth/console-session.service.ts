import { createHash, randomBytes } from 'node:crypto';
import { HttpException, HttpStatus, Inject, Injectable, Logger, UnauthorizedException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { deleteInBatches, type RawExecutor } from '../retention/batched-delete';
import { identify, type Scope, type TokenIdentity, type TokenSet } from './scopes';
import { csrfTokenFor } from './csrf';
import { SignInLimiter } from './sign-in-limiter';

/** lastSeenAt (and so the idle expiry) is written at most this often per session: not a write per request. */
export const TOUCH_EVERY_MS = 60_000;
export const SESSION_SWEEP_BATCH = 1000;
export const SESSION_SWEEP_MAX_BATCHES = 50;

/** What the console gets back from POST and GET /session. */
export interface SessionView {
  token: TokenIdentity['name'];
  scopes: Scope[];
  csrfToken: string;
  expiresAt: string;
}

/** A live session as the guard leaves it on the request (never the cookie value). */
export interface ActiveSession {
  /** SHA-256 (hex) of the cookie value: the row's id. */
  id: string;
  identity: TokenIdentity;
  csrfToken: string;
  expiresAt: Date;
}

/** The row's id for a cookie value: the cookie itself is never stored. */
export const sessionIdOf = (cookieValue: string): string => createHash('sha256').update(cookieValue).digest('hex');

/**
 * The identity of the token configured now under `name`, from the same code that identifies bearer
 * tokens (so a session has exactly its token's scopes); undefined for an unknown name.
 */
export function configuredIdentity(name: string, tokens: TokenSet): TokenIdentity | undefined {
  if (name === 'capture') return identify(tokens.captureToken, tokens);
  if (name === 'api') return identify(tokens.apiToken, tokens);
  return undefined;
}

export const sessionView = (s: ActiveSession): SessionView => ({ token: s.identity.name, scopes: [...s.identity.scopes], csrfToken: s.csrfToken, expiresAt: s.expiresAt.toISOString() });

/** Deletes sessions that have expired or ended (ending sets expiresAt to the moment it ended), in bounded batches. */
export async function sweepEndedSessions(db: RawExecutor, now: Date, batch = SESSION_SWEEP_BATCH, maxBatches = SESSION_SWEEP_MAX_BATCHES): Promise<{ deleted: number; more: boolean }> {
  const { deleted, more } = await deleteInBatches(
    (limit) => db.$executeRaw`
      DELETE FROM "ConsoleSession" WHERE "id" IN (
        SELECT "id" FROM "ConsoleSession" WHERE "expiresAt" <= ${now} ORDER BY "expiresAt" LIMIT ${limit}::int)`,
    batch,
    maxBatches,
  );
  return { deleted, more };
}

/**
 * Web console sessions, kept only in PostgreSQL (any replica serves any session). A session is its
 * token's identity for a while: idle TRACEFLEET_SESSION_IDLE_SEC, at most TRACEFLEET_SESSION_MAX_SEC
 * after sign-in, until signed out, or until the token it came from is no longer the configured one.
 */
@Injectable()
export class ConsoleSessionService implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(ConsoleSessionService.name);
  readonly limiter = new SignInLimiter();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
  ) {}

  /**
   * Every TRACEFLEET_RETENTION_SWEEP_SEC on each replica: the DELETE is idempotent and touches only
   * expired rows through an index, so replicas sweeping at once cost nothing but an empty scan.
   */
  onModuleInit(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((err: Error) => this.log.error(`session sweep failed: ${err.message}`));
    }, this.env.retentionSweepSec * 1000);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(now = new Date()): Promise<{ deleted: number; more: boolean }> {
    const r = await sweepEndedSessions(this.prisma, now);
    if (r.deleted > 0) this.log.log(`session sweep: deleted ${r.deleted} ended or expired console sessions${r.more ? ' (more next tick)' : ''}`);
    return r;
  }

  /**
   * A new session for a presented token: 401 for an unknown one (one message whatever is wrong), 429
   * when `remoteAddr` has failed too often lately. The cookie value is returned once and never stored.
   */
  async signIn(presented: string, remoteAddr: string, now = new Date()): Promise<{ cookie: string; session: ActiveSession }> {
    const wait = this.limiter.retryAfterMs(remoteAddr, now.getTime());
    if (wait > 0) {
      throw new HttpException(
        { statusCode: 429, error: 'Too Many Requests', message: [`too many failed sign-ins from this address; try again in ${Math.ceil(wait / 1000)} s`] },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const identity = identify(presented, this.env);
    if (!identity) {
      this.limiter.fail(remoteAddr, now.getTime());
      this.log.warn(`sign-in refused from ${remoteAddr}: unknown token`);
      throw new UnauthorizedException('invalid token');
    }
    const cookie = randomBytes(32).toString('base64url');
    const absolute = new Date(now.getTime() + this.env.sessionMaxSec * 1000);
    const expiresAt = this.idleExpiry(now, absolute);
    await this.prisma.consoleSession.create({
      data: {
        id: sessionIdOf(cookie),
        tokenName: identity.name,
        tokenFingerprint: identity.fingerprint,
        createdAt: now,
        lastSeenAt: now,
        expiresAt,
        absoluteExpiresAt: absolute,
        remoteAddr: remoteAddr.slice(0, 64),
      },
    });
    return { cookie, session: { id: sessionIdOf(cookie), identity, csrfToken: csrfTokenFor(cookie), expiresAt } };
  }

  /**
   * The live session of a cookie value, or undefined: unknown, ended, expired, or made with a token that
   * is no longer configured under its name (rotated; the row is ended then). Moves the idle expiry on.
   */
  async lookup(cookie: string, now = new Date()): Promise<ActiveSession | undefined> {
    const id = sessionIdOf(cookie);
    const row = await this.prisma.consoleSession.findUnique({ where: { id } });
    if (!row || row.endedAt !== null || row.expiresAt <= now) return undefined;
    const identity = configuredIdentity(row.tokenName, this.env);
    if (!identity || identity.fingerprint !== row.tokenFingerprint) {
      await this.end(id, now);
      return undefined;
    }
    let expiresAt = row.expiresAt;
    if (now.getTime() - row.lastSeenAt.getTime() >= TOUCH_EVERY_MS) {
      expiresAt = this.idleExpiry(now, row.absoluteExpiresAt);
      await this.prisma.consoleSession.updateMany({ where: { id, endedAt: null }, data: { lastSeenAt: now, expiresAt } });
    }
    return { id, identity, csrfToken: csrfTokenFor(cookie), expiresAt };
  }

  /** Ends a session now: its cookie is refused from then on, on every replica; the sweep deletes the row. */
  async end(id: string, now = new Date()): Promise<boolean> {
    const r = await this.prisma.consoleSession.updateMany({ where: { id, endedAt: null }, data: { endedAt: now, expiresAt: now } });
    return r.count > 0;
  }

  /** Ends the session of a cookie value, if it is live (a browser signing in again). */
  endCookie(cookie: string, now = new Date()): Promise<boolean> {
    return this.end(sessionIdOf(cookie), now);
  }

  private idleExpiry(now: Date, absolute: Date): Date {
    return new Date(Math.min(now.getTime() + this.env.sessionIdleSec * 1000, absolute.getTime()));
  }
}
