import { HttpException, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { AUDIT_KEY, type AuditTarget } from './audit.decorator';
import { AuditService } from './audit.service';
import { requestIdOf } from './request-id';

/**
 * Records each call of an @Audit route once it has ended — created, deleted, refused (4xx) or failed
 * (5xx) — before the answer goes out, so a client that saw the answer finds the entry in GET /audit.
 * 403s from the token guard never reach here; the guard records those itself.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const target = ctx.getType() === 'http' ? this.reflector.get<AuditTarget | undefined>(AUDIT_KEY, ctx.getHandler()) : undefined;
    if (!target) return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (!res.headersSent) res.setHeader('X-Request-Id', requestIdOf(req));
    const okStatus = (): number => (res.headersSent ? res.statusCode : (this.reflector.get<number | undefined>(HTTP_CODE_METADATA, ctx.getHandler()) ?? (req.method === 'POST' ? 201 : 200)));
    return next.handle().pipe(
      mergeMap(async (body: unknown) => {
        await this.audit.recordHttp(req, target, { status: okStatus(), body });
        return body;
      }),
      catchError((err: unknown) =>
        from(this.audit.recordHttp(req, target, { status: err instanceof HttpException ? err.getStatus() : 500, error: err })).pipe(mergeMap(() => throwError(() => err))),
      ),
    );
  }
}
