import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ForbiddenException, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ControllerEnv } from '../config/env';
import { Audit } from '../audit/audit.decorator';
import type { AuditService } from '../audit/audit.service';
import { ApiTokenGuard } from '../audit/api-token.guard';
import { IDENTITY_KEY, RequireScopes, RequireScopesWhen, identify, scopeForbidden, type ScopedRequest } from './scopes';
import { fingerprint } from './tokens';
import { requestIdOf } from '../audit/request-id';
import { sslCaptureNeedsScope } from '../jobs/jobs.controller';
import { bundleNeedsCapture } from '../incidents/incidents.controller';

const API = 'a1'.repeat(20);
const CAPTURE = 'c3'.repeat(20);
const env = { apiToken: API, captureToken: CAPTURE, enrollmentToken: 'e'.repeat(40) } as ControllerEnv;

class Routes {
  @RequireScopes('ssl-capture')
  @Audit('audit.read', 'audit')
  auditedCapture(): void {}
  @RequireScopesWhen(sslCaptureNeedsScope)
  @Audit('job.create', 'job', 'result')
  createJob(): void {}
  @RequireScopesWhen(bundleNeedsCapture)
  createSchedule(): void {}
  plain(): void {}
}

function ctx(handler: keyof Routes, headers: Record<string, string>, body?: unknown, query: Record<string, unknown> = {}): { ctx: ExecutionContext; req: ScopedRequest } {
  const req = { headers, body, query, params: {}, method: 'POST', originalUrl: '/api/v1/x', socket: { remoteAddress: '127.0.0.1' } } as unknown as ScopedRequest;
  const res = { headersSent: false, headers: {} as Record<string, string>, setHeader(k: string, v: string) { res.headers[k] = v; } };
  (req as unknown as { res: typeof res }).res = res;
  const c = {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  return { ctx: c, req };
}

class FakeAudit {
  calls: { target: unknown; status: number; token: unknown; requestId: string; answeredId?: string }[] = [];
  lastRes?: { headers: Record<string, string> };
  recordHttp(req: ScopedRequest, target: unknown, end: { status: number }): Promise<void> {
    this.calls.push({ target, status: end.status, token: req[IDENTITY_KEY], requestId: requestIdOf(req), answeredId: (req as unknown as { res?: { headers: Record<string, string> } }).res?.headers['X-Request-Id'] });
    return Promise.resolve();
  }
}

async function outcome(guard: ApiTokenGuard, c: ExecutionContext): Promise<number | 'ok'> {
  try {
    await guard.canActivate(c);
    return 'ok';
  } catch (e) {
    if (e instanceof UnauthorizedException) return 401;
    if (e instanceof ForbiddenException) return 403;
    throw e;
  }
}

describe('token identity', () => {
  it('names the token and gives a 16-hex SHA-256 fingerprint, never the token', () => {
    const id = identify(CAPTURE, env)!;
    assert.equal(id.name, 'capture');
    assert.deepEqual(id.scopes, ['jobs', 'ssl-capture']);
    assert.equal(id.fingerprint, createHash('sha256').update(CAPTURE).digest('hex').slice(0, 16));
    assert.equal(identify(API, env)!.fingerprint, fingerprint(API));
    assert.notEqual(fingerprint(API), fingerprint(CAPTURE));
    assert.ok(!JSON.stringify(id).includes(CAPTURE));
    assert.match(id.fingerprint, /^[0-9a-f]{16}$/);
  });

  it('knows no forged token: prefixes, suffixes, case, padding, the other stack, the enrollment token, huge ones', () => {
    for (const forged of [API.slice(0, -1), `${API}x`, API.toUpperCase(), ` ${API}`, `${CAPTURE}\u0000`, 'b'.repeat(40), env.enrollmentToken, fingerprint(CAPTURE), 'x'.repeat(1 << 20), '']) {
      assert.equal(identify(forged, env), undefined, `forged ${forged.slice(0, 20)}…`);
    }
  });
});

describe('scope rules of the guard', () => {
  const audit = new FakeAudit();
  const guard = new ApiTokenGuard(new Reflector(), env, audit as unknown as AuditService);

  it('answers 401 for missing, malformed and forged tokens, before any scope check', async () => {
    const headerSets: Record<string, string>[] = [{}, { authorization: '' }, { authorization: `Basic ${CAPTURE}` }, { authorization: `Bearer ${CAPTURE} ${CAPTURE}` }, { authorization: `Bearer ${CAPTURE.slice(1)}` }, { authorization: CAPTURE }];
    for (const h of headerSets) {
      assert.equal(await outcome(guard, ctx('auditedCapture', h).ctx), 401, JSON.stringify(h).slice(0, 60));
    }
    assert.equal(audit.calls.length, 0, 'no identity, nothing audited');
  });

  it('cannot be talked into a scope through the query, the body or headers', async () => {
    const escalations: [Record<string, string>, unknown, Record<string, unknown>][] = [
      [{ authorization: `Bearer ${API}` }, { scopes: ['ssl-capture'] }, { scope: 'ssl-capture' }],
      [{ authorization: `Bearer ${API}`, 'x-tracefleet-scopes': 'ssl-capture', 'x-scopes': 'ssl-capture' }, undefined, { tracefleetScopes: ['ssl-capture'] }],
      [{ authorization: `Bearer ${API}` }, { tracefleetScopes: ['jobs', 'ssl-capture'], tracefleetToken: { name: 'capture', scopes: ['ssl-capture'] } }, {}],
    ];
    for (const [headers, body, query] of escalations) {
      const { ctx: c, req } = ctx('auditedCapture', headers, body, query);
      assert.equal(await outcome(guard, c), 403);
      assert.deepEqual(req[IDENTITY_KEY]?.scopes, ['jobs'], 'what the guard stores comes from the token alone');
    }
  });

  it('decides by the body what creating needs: ssl-capture in a job, a bundle or a schedule job, however disguised', async () => {
    assert.equal(await outcome(guard, ctx('createJob', { authorization: `Bearer ${API}` }, { type: 'ssl-capture' }).ctx), 403);
    assert.equal(await outcome(guard, ctx('createJob', { authorization: `Bearer ${API}` }, { type: 'cpu-profile' }).ctx), 'ok');
    assert.equal(await outcome(guard, ctx('createSchedule', { authorization: `Bearer ${API}` }, { job: { type: 'ssl-capture' } }).ctx), 403);
    assert.equal(await outcome(guard, ctx('createSchedule', { authorization: `Bearer ${API}` }, { bundle: [{ type: 'cpu-profile' }, { type: 'ssl-capture' }] }).ctx), 403);
    assert.equal(await outcome(guard, ctx('createSchedule', { authorization: `Bearer ${CAPTURE}` }, { bundle: [{ type: 'ssl-capture' }] }).ctx), 'ok');
  });

  it('records a 403 on an audited route with the token identity, not on others', async () => {
    audit.calls.length = 0;
    assert.equal(await outcome(guard, ctx('auditedCapture', { authorization: `Bearer ${API}` }).ctx), 403);
    assert.equal(await outcome(guard, ctx('createSchedule', { authorization: `Bearer ${API}` }, { job: { type: 'ssl-capture' } }).ctx), 403);
    assert.equal(await outcome(guard, ctx('auditedCapture', { authorization: `Bearer ${CAPTURE}` }).ctx), 'ok');
    assert.equal(audit.calls.length, 1);
    assert.equal(audit.calls[0].status, 403);
    assert.equal(audit.calls[0].requestId, audit.calls[0].answeredId, 'the client is told the id the entry carries');
    assert.deepEqual(audit.calls[0].target, { action: 'audit.read', targetType: 'audit', idFrom: 'param' });
    assert.equal((audit.calls[0].token as { fingerprint: string }).fingerprint, fingerprint(API));
  });

  it('names the missing scope, the token that has it and what this one has', () => {
    const msg = JSON.stringify(scopeForbidden(['ssl-capture'], ['jobs'], 'deleting schedule x').getResponse());
    assert.match(msg, /deleting schedule x needs the ssl-capture scope \(TRACEFLEET_CAPTURE_TOKEN\); this token has: jobs/);
  });
});
