import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ENV, type ControllerEnv } from '../config/env';
import { IS_PUBLIC } from './public.decorator';
import { bearer, sameSecret } from './tokens';

/** Every REST route needs `Authorization: Bearer $TRACEFLEET_API_TOKEN` unless marked @Public(). */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(ENV) private readonly env: ControllerEnv,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()]);
    if (isPublic) return true;
    const req = ctx.switchToHttp().getRequest<Request>();
    const presented = bearer(req.headers.authorization);
    if (!presented) throw new UnauthorizedException('missing bearer token (Authorization: Bearer $TRACEFLEET_API_TOKEN)');
    if (!sameSecret(presented, this.env.apiToken)) throw new UnauthorizedException('invalid token');
    return true;
  }
}
