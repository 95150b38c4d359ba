import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ENV, type ControllerEnv } from '../config/env';
import { IS_PUBLIC } from './public.decorator';
import { REQUIRED_SCOPES, SCOPES_KEY, SCOPE_TOKENS, missingScopes, scopesOf, type ScopeRule, type ScopedRequest } from './scopes';
import { bearer } from './tokens';

/**
 * Every REST route needs a bearer token unless marked @Public(): TRACEFLEET_API_TOKEN (scope `jobs`)
 * or TRACEFLEET_CAPTURE_TOKEN (`jobs` and `ssl-capture`). No or an unknown token → 401; a known
 * token without a scope the route needs (@RequireScopes) → 403 naming the scope.
 */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(ENV) private readonly env: ControllerEnv,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()]);
    if (isPublic) return true;
    const req = ctx.switchToHttp().getRequest<ScopedRequest>();
    const presented = bearer(req.headers.authorization);
    if (!presented) throw new UnauthorizedException('missing bearer token (Authorization: Bearer $TRACEFLEET_API_TOKEN)');
    const scopes = scopesOf(presented, this.env);
    if (!scopes) throw new UnauthorizedException('invalid token');
    req[SCOPES_KEY] = scopes;
    const rule = this.reflector.getAllAndOverride<ScopeRule | undefined>(REQUIRED_SCOPES, [ctx.getHandler(), ctx.getClass()]);
    const missing = missingScopes(scopes, rule ? rule(req) : []);
    if (missing.length > 0) {
      throw new ForbiddenException({
        statusCode: 403,
        error: 'Forbidden',
        message: [`this needs the ${missing.join(', ')} scope (${missing.map((s) => SCOPE_TOKENS[s]).join('; ')}); this token has: ${scopes.join(', ')}`],
      });
    }
    return true;
  }
}
