import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ControllerEnv } from '../config/env';
import { ApiTokenGuard } from '../audit/api-token.guard';
import { Public } from './public.decorator';
import { RequireScopes, RequireScopesWhen, SCOPES_KEY, missingScopes, scopesOf, type ScopedRequest } from './scopes';
import { sslCaptureNeedsScope } from '../jobs/jobs.controller';

const API = 'a'.repeat(40);
const CAPTURE = 'c'.repeat(40);
const env = { apiToken: API, captureToken: CAPTURE } as ControllerEnv;

class Routes {
  plain(): void {}
  @RequireScopes('ssl-capture')
  capture(): void {}
  @RequireScopesWhen(sslCaptureNeedsScope)
  create(): void {}
  @Public()
  health(): void {}
}

function ctx(handler: keyof Routes, authorization?: string, body?: unknown): { ctx: ExecutionContext; req: ScopedRequest } {
  const req = { headers: authorization ? { authorization } : {}, body } as unknown as ScopedRequest;
  const c = {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
  return { ctx: c, req };
}

const guard = new ApiTokenGuard(new Reflector(), env);
const status = (f: () => unknown): number | 'ok' => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnauthorizedException) return 401;
    if (e instanceof ForbiddenException) return 403;
    throw e;
  }
};

describe('token scopes', () => {
  it('gives the API token jobs, the capture token jobs and ssl-capture', () => {
    assert.deepEqual(scopesOf(API, env), ['jobs']);
    assert.deepEqual(scopesOf(CAPTURE, env), ['jobs', 'ssl-capture']);
    assert.equal(scopesOf('x'.repeat(40), env), undefined);
    assert.equal(scopesOf('', env), undefined);
    assert.deepEqual(missingScopes(['jobs'], ['ssl-capture']), ['ssl-capture']);
    assert.deepEqual(missingScopes(['jobs', 'ssl-capture'], ['ssl-capture']), []);
    assert.deepEqual(missingScopes([], []), ['jobs']);
  });

  it('answers 401 for no or an unknown token, 403 for a missing scope', () => {
    assert.equal(status(() => guard.canActivate(ctx('plain').ctx)), 401);
    assert.equal(status(() => guard.canActivate(ctx('plain', `Bearer ${'z'.repeat(40)}`).ctx)), 401);
    assert.equal(status(() => guard.canActivate(ctx('capture', `Bearer ${'z'.repeat(40)}`).ctx)), 401, '401 wins over 403');
    assert.equal(status(() => guard.canActivate(ctx('plain', `Bearer ${API}`).ctx)), 'ok');
    assert.equal(status(() => guard.canActivate(ctx('plain', `Bearer ${CAPTURE}`).ctx)), 'ok');
    assert.equal(status(() => guard.canActivate(ctx('capture', `Bearer ${API}`).ctx)), 403);
    assert.equal(status(() => guard.canActivate(ctx('capture', `Bearer ${CAPTURE}`).ctx)), 'ok');
    assert.equal(status(() => guard.canActivate(ctx('health').ctx)), 'ok');
  });

  it('says which scope and which token in the 403', () => {
    try {
      guard.canActivate(ctx('capture', `Bearer ${API}`).ctx);
      assert.fail('expected 403');
    } catch (e) {
      assert.ok(e instanceof ForbiddenException);
      assert.match(JSON.stringify(e.getResponse()), /needs the ssl-capture scope \(TRACEFLEET_CAPTURE_TOKEN\); this token has: jobs/);
    }
  });

  it('decides job creation by the requested type', () => {
    assert.equal(status(() => guard.canActivate(ctx('create', `Bearer ${API}`, { type: 'cpu-profile' }).ctx)), 'ok');
    assert.equal(status(() => guard.canActivate(ctx('create', `Bearer ${API}`, { type: 'ssl-capture' }).ctx)), 403);
    assert.equal(status(() => guard.canActivate(ctx('create', `Bearer ${API}`, 'not json').ctx)), 'ok', 'validation answers 400 later');
    const { ctx: c, req } = ctx('create', `Bearer ${CAPTURE}`, { type: 'ssl-capture' });
    assert.equal(guard.canActivate(c), true);
    assert.deepEqual(req[SCOPES_KEY], ['jobs', 'ssl-capture'], 'scopes are left on the request for the handler');
  });
});
