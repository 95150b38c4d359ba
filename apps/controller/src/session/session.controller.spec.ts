// Sign-in, the current session and sign-out, on the controller class with the session service over an in-memory table.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import { ConsoleSessionService, sessionIdOf } from '../auth/console-session.service';
import { csrfTokenFor } from '../auth/csrf';
import { IDENTITY_KEY } from '../auth/scopes';
import { SESSION_KEY, type SessionRequest } from '../auth/session-auth';
import { SessionController } from './session.controller';

Logger.overrideLogger(false);
const API = 'a1'.repeat(20);
const CAPTURE = 'c3'.repeat(20);
const env = { apiToken: API, captureToken: CAPTURE, enrollmentToken: 'e5'.repeat(20), sessionIdleSec: 3600, sessionMaxSec: 7200, retentionSweepSec: 300, sessionSecureCookie: false } as ControllerEnv;

function setup(e: ControllerEnv = env) {
  const rows = new Map<string, Record<string, unknown>>();
  const prisma = {
    consoleSession: {
      create: async ({ data }: { data: Record<string, unknown> }) => void rows.set(data.id as string, { ...data, endedAt: null }),
      findUnique: async ({ where }: { where: { id: string } }) => rows.get(where.id) ?? null,
      updateMany: async ({ where, data }: { where: { id: string }; data: Record<string, unknown> }) => {
        const r = rows.get(where.id);
        if (!r || r.endedAt !== null) return { count: 0 };
        Object.assign(r, data);
        return { count: 1 };
      },
    },
  } as unknown as PrismaService;
  const sessions = new ConsoleSessionService(e, prisma);
  return { controller: new SessionController(sessions, e), sessions, rows };
}

function http(headers: Record<string, string> = {}, secure = false, remoteAddress = '10.0.0.1') {
  const req = { method: 'POST', headers: { host: '127.0.0.1:8080', ...headers }, secure, socket: { remoteAddress } } as unknown as SessionRequest;
  const set: Record<string, string> = {};
  const res = { setHeader: (k: string, v: string) => void (set[k.toLowerCase()] = v) } as unknown as Response;
  return { req, res, set };
}

const status = async (p: Promise<unknown>): Promise<number | 'ok'> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof HttpException) return e.getStatus();
    throw e;
  }
};

describe('POST, GET and DELETE /session', () => {
  it('signs in with a known token: the cookie (flags, no Secure over plain HTTP), the view, the identity for the audit entry', async () => {
    const { controller, rows } = setup();
    const { req, res, set } = http();
    const view = await controller.create({ token: CAPTURE }, req, res);
    const m = /^tf_session=([A-Za-z0-9_-]{43}); Path=\/; Max-Age=7200; HttpOnly; SameSite=Strict$/.exec(set['set-cookie']);
    assert.ok(m, set['set-cookie']);
    assert.equal(set['cache-control'], 'no-store');
    assert.deepEqual({ ...view, expiresAt: undefined }, { token: 'capture', scopes: ['jobs', 'ssl-capture'], csrfToken: csrfTokenFor(m[1]), expiresAt: undefined });
    assert.ok(Math.abs(Date.parse(view.expiresAt) - (Date.now() + 3600_000)) < 5000);
    assert.equal(req[IDENTITY_KEY]?.name, 'capture');
    const row = rows.get(sessionIdOf(m[1]))!;
    assert.ok(row, 'stored under the SHA-256 of the cookie');
    assert.ok(!JSON.stringify([...rows.values()]).includes(m[1]) && !JSON.stringify([...rows.values()]).includes(CAPTURE), 'neither the cookie nor the token is stored');
  });

  it('marks the cookie Secure over TLS, or when the operator says a TLS proxy is in front; never for X-Forwarded-Proto', async () => {
    const { controller } = setup();
    const tls = http({}, true);
    await controller.create({ token: API }, tls.req, tls.res);
    assert.match(tls.set['set-cookie'], /; Secure$/);
    const forwarded = http({ 'x-forwarded-proto': 'https' });
    await controller.create({ token: API }, forwarded.req, forwarded.res);
    assert.doesNotMatch(forwarded.set['set-cookie'], /Secure/);
    const proxied = setup({ ...env, sessionSecureCookie: true } as ControllerEnv);
    const p = http();
    await proxied.controller.create({ token: API }, p.req, p.res);
    assert.match(p.set['set-cookie'], /; Secure$/);
  });

  it('refuses unknown tokens with one 401 and no cookie, then the address with 429, right token or not', async () => {
    const { controller } = setup();
    const messages = new Set<string>();
    for (const token of [`${API}x`, API.slice(1), 'x', CAPTURE.toUpperCase(), `${CAPTURE} `, 'e5'.repeat(20), 'y'.repeat(512), API.slice(0, 20), `${API}\u0000`, 'z'.repeat(40)]) {
      const { req, res, set } = http();
      try {
        await controller.create({ token }, req, res);
        assert.fail('expected 401');
      } catch (e) {
        assert.ok(e instanceof HttpException);
        assert.equal(e.getStatus(), 401);
        messages.add(JSON.stringify(e.getResponse()));
      }
      assert.equal(set['set-cookie'], undefined);
      assert.equal(req[IDENTITY_KEY], undefined, 'nothing for the audit log');
    }
    assert.equal(messages.size, 1, 'one message whatever is wrong');
    assert.equal(await status(controller.create({ token: API }, http().req, http().res)), 429, 'the 11th try, even with the right token');
    assert.equal(await status(controller.create({ token: API }, http({}, false, '10.0.0.2').req, http().res)), 'ok', 'another address is not held up');
  });

  it('refuses a sign-in from another origin', async () => {
    const { controller } = setup();
    const { req, res, set } = http({ origin: 'http://evil.example' });
    assert.equal(await status(controller.create({ token: API }, req, res)), 403);
    assert.equal(set['set-cookie'], undefined);
  });

  it('ends the session a browser held when it signs in again', async () => {
    const { controller, rows } = setup();
    const first = http();
    await controller.create({ token: API }, first.req, first.res);
    const old = /tf_session=([^;]+)/.exec(first.set['set-cookie'])![1];
    const again = http({ cookie: `tf_session=${old}` });
    await controller.create({ token: API }, again.req, again.res);
    assert.notEqual(rows.get(sessionIdOf(old))!.endedAt, null);
  });

  it('gives the current session back, 401 without one; signs out, clearing the cookie', async () => {
    const { controller, sessions, rows } = setup();
    assert.throws(() => controller.current(http().req, http().res), (e: unknown) => e instanceof HttpException && e.getStatus() === 401);
    const { cookie, session } = await sessions.signIn(API, '10.0.0.1');
    const { req, res, set } = http();
    req[SESSION_KEY] = session;
    assert.equal(controller.current(req, res).csrfToken, csrfTokenFor(cookie));
    assert.deepEqual(await controller.end(req, res), { ended: true });
    assert.equal(set['set-cookie'], 'tf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict');
    assert.notEqual(rows.get(sessionIdOf(cookie))!.endedAt, null);
    assert.equal(await sessions.lookup(cookie), undefined);
    assert.equal(await status(controller.end(http().req, http().res)), 401);
  });
});
