// The token guard with web console sessions: the session service runs for real over an in-memory table.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException, HttpException, Logger, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ControllerEnv } from '../config/env';
import { Audit } from '../audit/audit.decorator';
import type { AuditService } from '../audit/audit.service';
import { ApiTokenGuard } from '../audit/api-token.guard';
import type { PrismaService } from '../prisma/prisma.service';
import { sslCaptureNeedsScope } from '../jobs/jobs.controller';
import { ConsoleSessionService, sessionIdOf } from './console-session.service';
import { csrfTokenFor } from './csrf';
import { IDENTITY_KEY, RequireScopes, RequireScopesWhen } from './scopes';
import { SESSION_KEY, type SessionRequest } from './session-auth';
import { SignIn } from './sign-in.decorator';
import { fingerprint } from './tokens';

Logger.overrideLogger(false);
const API = 'a1'.repeat(20);
const CAPTURE = 'c3'.repeat(20);
const env = { apiToken: API, captureToken: CAPTURE, enrollmentToken: 'e5'.repeat(20), sessionIdleSec: 12 * 3600, sessionMaxSec: 86_400, retentionSweepSec: 300 } as ControllerEnv;
const HOST = '127.0.0.1:8080';

type Row = { id: string; tokenName: string; tokenFingerprint: string; lastSeenAt: Date; expiresAt: Date; absoluteExpiresAt: Date; endedAt: Date | null };

/** The part of Prisma the session service uses, over a Map. */
function fakePrisma(): { prisma: PrismaService; rows: Map<string, Row> } {
  const rows = new Map<string, Row>();
  const matches = (r: Row, where: { id: string; endedAt?: null }): boolean => r.id === where.id && (where.endedAt === undefined || r.endedAt === null);
  const consoleSession = {
    create: async ({ data }: { data: Row }) => {
      rows.set(data.id, { ...data, endedAt: null });
      return data;
    },
    findUnique: async ({ where }: { where: { id: string } }) => rows.get(where.id) ?? null,
    updateMany: async ({ where, data }: { where: { id: string; endedAt?: null }; data: Partial<Row> }) => {
      let count = 0;
      for (const r of rows.values()) if (matches(r, where)) (Object.assign(r, data), count++);
      return { count };
    },
  };
  return { prisma: { consoleSession } as unknown as PrismaService, rows };
}

class Routes {
  plain(): void {}
  @RequireScopes('ssl-capture')
  @Audit('audit.read', 'audit')
  capture(): void {}
  @RequireScopesWhen(sslCaptureNeedsScope)
  @Audit('job.create', 'job', 'result')
  createJob(): void {}
  @SignIn()
  signIn(): void {}
}

class FakeAudit {
  calls: { status: number; token: unknown }[] = [];
  recordHttp(req: SessionRequest, _target: unknown, end: { status: number }): Promise<void> {
    this.calls.push({ status: end.status, token: req[IDENTITY_KEY] });
    return Promise.resolve();
  }
}

function ctx(handler: keyof Routes, method: string, headers: Record<string, string>, body?: unknown): { ctx: ExecutionContext; req: SessionRequest } {
  const req = { method, headers: { host: HOST, ...headers }, body, query: {}, params: {}, originalUrl: '/api/v1/x', socket: { remoteAddress: '127.0.0.1' } } as unknown as SessionRequest;
  const res = { headersSent: false, setHeader() {} };
  const c = {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  return { ctx: c, req };
}

/** The guard's answer: 'ok', or the status it threw (synchronously or through its promise). */
async function outcome(guard: ApiTokenGuard, c: ExecutionContext): Promise<number | 'ok'> {
  try {
    assert.equal(await guard.canActivate(c), true);
    return 'ok';
  } catch (e) {
    if (e instanceof HttpException) return e.getStatus();
    throw e;
  }
}

function setup(guardEnv: ControllerEnv = env): { guard: ApiTokenGuard; sessions: ConsoleSessionService; audit: FakeAudit; rows: Map<string, Row>; prisma: PrismaService } {
  const { prisma, rows } = fakePrisma();
  const sessions = new ConsoleSessionService(guardEnv, prisma);
  const audit = new FakeAudit();
  return { guard: new ApiTokenGuard(new Reflector(), guardEnv, audit as unknown as AuditService, sessions), sessions, audit, rows, prisma };
}

const cookieOf = (value: string): Record<string, string> => ({ cookie: `theme=dark; tf_session=${value}` });

describe('the token guard with console sessions', () => {
  it('takes the cookie for reads, with the identity and scopes of its token', async () => {
    const { guard, sessions } = setup();
    const { cookie } = await sessions.signIn(API, '127.0.0.1');
    const { ctx: c, req } = ctx('plain', 'GET', cookieOf(cookie));
    assert.equal(await outcome(guard, c), 'ok');
    assert.deepEqual(req[IDENTITY_KEY], { name: 'api', scopes: ['jobs'], fingerprint: fingerprint(API) });
    assert.equal(req[SESSION_KEY]?.id, sessionIdOf(cookie));
    assert.equal(req[SESSION_KEY]?.csrfToken, csrfTokenFor(cookie));
    for (const m of ['HEAD', 'OPTIONS']) assert.equal(await outcome(guard, ctx('plain', m, cookieOf(cookie)).ctx), 'ok', m);
  });

  it('refuses a state change by cookie without the right X-CSRF-Token (403 naming it), takes it with', async () => {
    const { guard, sessions } = setup();
    const { cookie } = await sessions.signIn(API, '127.0.0.1');
    const other = (await sessions.signIn(API, '127.0.0.1')).cookie;
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(await outcome(guard, ctx('plain', method, cookieOf(cookie)).ctx), 403, `${method} without`);
      assert.equal(await outcome(guard, ctx('plain', method, { ...cookieOf(cookie), 'x-csrf-token': csrfTokenFor(other) }).ctx), 403, `${method} with another session's`);
      assert.equal(await outcome(guard, ctx('plain', method, { ...cookieOf(cookie), 'x-csrf-token': cookie }).ctx), 403, `${method} with the cookie itself`);
      assert.equal(await outcome(guard, ctx('plain', method, { ...cookieOf(cookie), 'x-csrf-token': csrfTokenFor(cookie) }).ctx), 'ok', `${method} with`);
    }
    try {
      await guard.canActivate(ctx('plain', 'POST', cookieOf(cookie)).ctx);
      assert.fail('expected 403');
    } catch (e) {
      assert.ok(e instanceof ForbiddenException);
      assert.match(JSON.stringify(e.getResponse()), /missing or wrong X-CSRF-Token/);
    }
  });

  it('refuses a cookie state change whose Origin names another host, even with the CSRF token', async () => {
    const { guard, sessions } = setup();
    const { cookie } = await sessions.signIn(API, '127.0.0.1');
    const good = { ...cookieOf(cookie), 'x-csrf-token': csrfTokenFor(cookie) };
    assert.equal(await outcome(guard, ctx('plain', 'POST', { ...good, origin: 'http://evil.example' }).ctx), 403);
    assert.equal(await outcome(guard, ctx('plain', 'POST', { ...good, origin: 'null' }).ctx), 403);
    assert.equal(await outcome(guard, ctx('plain', 'POST', { ...good, origin: `http://${HOST}` }).ctx), 'ok');
    assert.equal(await outcome(guard, ctx('plain', 'GET', { ...cookieOf(cookie), origin: 'http://evil.example' }).ctx), 'ok', 'reads are not checked (they change nothing; CORS keeps the answer from the other page)');
  });

  it('lets a bearer token win over a cookie, needing no CSRF token; a bad bearer is 401 whatever cookie comes with it', async () => {
    const { guard, sessions } = setup();
    const { cookie } = await sessions.signIn(API, '127.0.0.1');
    const { ctx: c, req } = ctx('capture', 'POST', { ...cookieOf(cookie), authorization: `Bearer ${CAPTURE}` });
    assert.equal(await outcome(guard, c), 'ok');
    assert.equal(req[IDENTITY_KEY]?.name, 'capture');
    assert.equal(req[SESSION_KEY], undefined, 'no session on a bearer request');
    assert.equal(await outcome(guard, ctx('plain', 'POST', { authorization: `Bearer ${API}` }).ctx), 'ok', 'bearer: no CSRF');
    for (const authorization of ['', 'Bearer', `Bearer ${'z'.repeat(40)}`, `Basic ${API}`, cookie]) {
      assert.equal(await outcome(guard, ctx('plain', 'GET', { ...cookieOf(cookie), authorization }).ctx), 401, JSON.stringify(authorization));
    }
  });

  it('answers 401 for no cookie, a malformed or doubled one, an unknown one, and ended, expired or rotated-token sessions', async () => {
    const { guard, sessions, rows, prisma } = setup();
    assert.throws(() => guard.canActivate(ctx('plain', 'GET', {}).ctx), UnauthorizedException, 'no credentials: synchronous 401');
    assert.throws(() => guard.canActivate(ctx('plain', 'GET', { cookie: 'tf_session=short' }).ctx), UnauthorizedException);
    const { cookie } = await sessions.signIn(CAPTURE, '127.0.0.1');
    assert.throws(() => guard.canActivate(ctx('plain', 'GET', { cookie: `tf_session=${cookie}; tf_session=${cookie}` }).ctx), UnauthorizedException, 'two session cookies');
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(`${cookie.slice(0, 42)}${cookie[42] === 'A' ? 'B' : 'A'}`)).ctx), 401, 'unknown');

    const ended = (await sessions.signIn(CAPTURE, '127.0.0.1')).cookie;
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(ended)).ctx), 'ok');
    assert.equal(await sessions.end(sessionIdOf(ended)), true);
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(ended)).ctx), 401, 'ended');

    const old = (await sessions.signIn(CAPTURE, '127.0.0.1', new Date(Date.now() - 12 * 3600_000 - 1000))).cookie;
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(old)).ctx), 401, 'idle past TRACEFLEET_SESSION_IDLE_SEC');
    const used = (await sessions.signIn(CAPTURE, '127.0.0.1', new Date(Date.now() - 120_000))).cookie;
    const row = rows.get(sessionIdOf(used))!;
    const before = row.expiresAt.getTime();
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(used)).ctx), 'ok', 'used within the idle time');
    assert.ok(row.expiresAt.getTime() >= before + 100_000, 'use moves the idle expiry on');
    row.lastSeenAt = new Date(Date.now() - 120_000);
    row.absoluteExpiresAt = new Date(Date.now() + 30_000);
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(used)).ctx), 'ok');
    assert.equal(row.expiresAt.getTime(), row.absoluteExpiresAt.getTime(), 'never past the absolute expiry');
    row.expiresAt = row.absoluteExpiresAt = new Date(Date.now() - 1);
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(used)).ctx), 401, 'past TRACEFLEET_SESSION_MAX_SEC');

    // The same rows seen by a controller whose capture token was rotated: the session ends.
    const rotated = { ...env, captureToken: 'c4'.repeat(20) } as ControllerEnv;
    const live = (await sessions.signIn(CAPTURE, '127.0.0.1')).cookie;
    const after = new ApiTokenGuard(new Reflector(), rotated, undefined, new ConsoleSessionService(rotated, prisma));
    assert.equal(await outcome(after, ctx('plain', 'GET', cookieOf(live)).ctx), 401, 'the token was rotated');
    assert.notEqual(rows.get(sessionIdOf(live))!.endedAt, null, 'and the row is ended');
    assert.equal(await outcome(guard, ctx('plain', 'GET', cookieOf(live)).ctx), 401, 'for good, even where the old token is still configured');
  });

  it('gives a session exactly the 403s its token gets as a bearer token, audited with the token\'s identity', async () => {
    const { guard, sessions, audit } = setup();
    const api = (await sessions.signIn(API, '127.0.0.1')).cookie;
    const capture = (await sessions.signIn(CAPTURE, '127.0.0.1')).cookie;
    const byCookie = (c: string, extra: Record<string, string> = {}) => ({ ...cookieOf(c), 'x-csrf-token': csrfTokenFor(c), ...extra });
    const cases: [keyof Routes, string, unknown][] = [
      ['capture', 'GET', undefined],
      ['createJob', 'POST', { type: 'ssl-capture' }],
      ['createJob', 'POST', { type: 'cpu-profile' }],
      ['plain', 'GET', undefined],
    ];
    for (const [route, method, body] of cases) {
      for (const [token, cookie] of [[API, api], [CAPTURE, capture]]) {
        const asBearer = await outcome(guard, ctx(route, method, { authorization: `Bearer ${token}` }, body).ctx);
        const asCookie = await outcome(guard, ctx(route, method, byCookie(cookie), body).ctx);
        assert.equal(asCookie, asBearer, `${route} ${JSON.stringify(body)} as ${token === API ? 'api' : 'capture'}`);
      }
    }
    assert.equal(await outcome(guard, ctx('capture', 'GET', byCookie(api)).ctx), 403);
    assert.equal(await outcome(guard, ctx('capture', 'GET', byCookie(capture)).ctx), 'ok');
    const denied = audit.calls.filter((c) => c.status === 403);
    assert.equal(denied.length, 5, 'two 403s as bearer, three as cookie');
    for (const d of denied) assert.equal((d.token as { fingerprint: string }).fingerprint, fingerprint(API));
  });

  it('lets the sign-in route through without credentials (the handler checks the body\'s token)', async () => {
    const { guard } = setup();
    assert.equal(await outcome(guard, ctx('signIn', 'POST', {}).ctx), 'ok');
  });
});
