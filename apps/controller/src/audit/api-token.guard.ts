import { Inject, Injectable, Optional, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ENV, type ControllerEnv } from '../config/env';
import { AUDIT_KEY, type AuditTarget } from './audit.decorator';
import { AuditService } from './audit.service';
import { requestIdOf } from './request-id';
import type { Response } from 'express';
import { IS_PUBLIC } from '../auth/public.decorator';
import { IDENTITY_KEY, REQUIRED_SCOPES, SCOPES_KEY, identify, missingScopes, scopeForbidden, type ScopeRule, type ScopedRequest, type TokenIdentity } from '../auth/scopes';
import { bearer } from '../auth/tokens';
import { readSessionCookie } from '../auth/cookies';
import { ConsoleSessionService } from '../auth/console-session.service';
import { BAD_SESSION, NO_CREDENTIALS, sessionIdentity } from '../auth/session-auth';
import { SIGN_IN } from '../auth/sign-in.decorator';

/**
 * Every REST route needs a token unless marked @Public() (or @SignIn(): POST /session checks the token in
 * its body): TRACEFLEET_API_TOKEN (scope `jobs`) or TRACEFLEET_CAPTURE_TOKEN (`jobs` and `ssl-capture`),
 * as a bearer token or, without an Authorization header, through a web console session cookie that has
 * that token's identity (auth/session-auth.ts: state changes by cookie also need X-CSRF-Token). No or an
 * unknown token or session → 401 (a present but bad Authorization header is a 401 whatever cookie comes
 * with it); a known token without a scope the route needs (@RequireScopes) → 403 naming the scope. A 403
 * on an audited route (@Audit) is recorded before it is answered; 401s are not (no identity, and anyone
 * could fill the log).
 */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(ENV) private readonly env: ControllerEnv,
    @Optional() private readonly audit?: AuditService,
    @Optional() private readonly sessions?: ConsoleSessionService,
  ) {}

  canActivate(ctx: ExecutionContext): boolean | Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) || this.reflector.getAllAndOverride<boolean>(SIGN_IN, targets)) return true;
    const req = ctx.switchToHttp().getRequest<ScopedRequest>();
    // Bearer requests stay synchronous; only a cookie needs the database.
    if (req.headers.authorization === undefined) {
      const cookie = readSessionCookie(req.headers.cookie);
      if (cookie.kind === 'none' || !this.sessions) throw new UnauthorizedException(NO_CREDENTIALS);
      if (cookie.kind === 'bad') throw new UnauthorizedException(BAD_SESSION);
      return sessionIdentity(req, cookie.value, this.sessions).then((identity) => this.authorize(ctx, req, identity));
    }
    return this.authorize(ctx, req, this.bearerIdentity(req));
  }

  private bearerIdentity(req: ScopedRequest): TokenIdentity {
    const presented = bearer(req.headers.authorization);
    if (!presented) throw new UnauthorizedException('missing bearer token (Authorization: Bearer $TRACEFLEET_API_TOKEN)');
    const identity = identify(presented, this.env);
    if (!identity) throw new UnauthorizedException('invalid token');
    return identity;
  }

  /** Leaves the identity on the request and checks the route's scopes (auditing a 403 on an audited route). */
  private authorize(ctx: ExecutionContext, req: ScopedRequest, identity: TokenIdentity): boolean | Promise<boolean> {
    req[SCOPES_KEY] = identity.scopes;
    req[IDENTITY_KEY] = identity;
    const rule = this.reflector.getAllAndOverride<ScopeRule | undefined>(REQUIRED_SCOPES, [ctx.getHandler(), ctx.getClass()]);
    const missing = missingScopes(identity.scopes, rule ? rule(req) : []);
    if (missing.length === 0) return true;
    const denied = scopeForbidden(missing, identity.scopes);
    const target = this.reflector.get<AuditTarget | undefined>(AUDIT_KEY, ctx.getHandler());
    if (!target || !this.audit) throw denied;
    const res = ctx.switchToHttp().getResponse<Response | undefined>();
    if (res && !res.headersSent) res.setHeader('X-Request-Id', requestIdOf(req));
    return this.audit.recordHttp(req, target, { status: 403, error: denied }).then(() => {
      throw denied;
    });
  }
}
