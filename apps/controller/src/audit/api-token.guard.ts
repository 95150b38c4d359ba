import { Inject, Injectable, Optional, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ENV, type ControllerEnv } from '../config/env';
import { AUDIT_KEY, type AuditTarget } from './audit.decorator';
import { AuditService } from './audit.service';
import { requestIdOf } from './request-id';
import type { Response } from 'express';
import { IS_PUBLIC } from '../auth/public.decorator';
import { IDENTITY_KEY, REQUIRED_SCOPES, SCOPES_KEY, identify, missingScopes, scopeForbidden, type ScopeRule, type ScopedRequest } from '../auth/scopes';
import { bearer } from '../auth/tokens';

/**
 * Every REST route needs a bearer token unless marked @Public(): TRACEFLEET_API_TOKEN (scope `jobs`)
 * or TRACEFLEET_CAPTURE_TOKEN (`jobs` and `ssl-capture`). No or an unknown token → 401; a known
 * token without a scope the route needs (@RequireScopes) → 403 naming the scope. A 403 on an audited
 * route (@Audit) is recorded before it is answered; 401s are not (no identity, and anyone could fill the log).
 */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(ENV) private readonly env: ControllerEnv,
    @Optional() private readonly audit?: AuditService,
  ) {}

  canActivate(ctx: ExecutionContext): boolean | Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()]);
    if (isPublic) return true;
    const req = ctx.switchToHttp().getRequest<ScopedRequest>();
    const presented = bearer(req.headers.authorization);
    if (!presented) throw new UnauthorizedException('missing bearer token (Authorization: Bearer $TRACEFLEET_API_TOKEN)');
    const identity = identify(presented, this.env);
    if (!identity) throw new UnauthorizedException('invalid token');
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
