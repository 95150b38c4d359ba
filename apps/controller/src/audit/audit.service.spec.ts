import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException, Logger } from '@nestjs/common';
import type { Request } from 'express';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import { IDENTITY_KEY, identify } from '../auth/scopes';
import { AuditService, safeId, scrub } from './audit.service';
import { requestIdOf } from './request-id';

Logger.overrideLogger(false);
const API = 'a1'.repeat(20);
const CAPTURE = 'c3'.repeat(20);
const env = { apiToken: API, captureToken: CAPTURE, enrollmentToken: 'e5'.repeat(20) } as ControllerEnv;

function fakePrisma(fail = false): { prisma: PrismaService; rows: Record<string, unknown>[] } {
  const rows: Record<string, unknown>[] = [];
  const prisma = {
    auditEntry: {
      create: async ({ data }: { data: Record<string, unknown> }) => {
        if (fail) throw new Error('connection refused');
        rows.push(data);
        return data;
      },
    },
  } as unknown as PrismaService;
  return { prisma, rows };
}

function req(token: string, extra: Partial<Request> = {}): Request {
  return { method: 'DELETE', originalUrl: '/api/v1/schedules/abc?x=1', params: {}, socket: { remoteAddress: '10.0.0.7' }, [IDENTITY_KEY]: identify(token, env), ...extra } as unknown as Request;
}

describe('the audit log writer', () => {
  it('stores who, what, target, outcome, request id and peer; never the token', async () => {
    const { prisma, rows } = fakePrisma();
    const audit = new AuditService(env, prisma);
    const r = req(API, { params: { id: 'd3b07384-d9a0-4c1e-8f5e-000000000001' } as never });
    await audit.recordHttp(r, { action: 'schedule.delete', targetType: 'schedule', idFrom: 'param' }, { status: 403, error: new ForbiddenException(`token ${API} has no scope; also ${CAPTURE}`) });
    assert.equal(rows.length, 1);
    const row = rows[0];
    assert.equal(row.tokenName, 'api');
    assert.equal(row.tokenFingerprint, identify(API, env)!.fingerprint);
    assert.equal(row.outcome, 'denied');
    assert.equal(row.targetId, 'd3b07384-d9a0-4c1e-8f5e-000000000001');
    assert.equal(row.path, '/api/v1/schedules/abc', 'no query string');
    assert.equal(row.remoteAddr, '10.0.0.7');
    assert.equal(row.requestId, requestIdOf(r));
    const all = JSON.stringify(rows);
    assert.ok(!all.includes(API) && !all.includes(CAPTURE), all);
    assert.match(String(row.reason), /\[token\]/);
  });

  it('takes a created target id from the response, and refuses hostile ids', async () => {
    const { prisma, rows } = fakePrisma();
    const audit = new AuditService(env, prisma);
    await audit.recordHttp(req(CAPTURE, { method: 'POST' }), { action: 'job.create', targetType: 'job', idFrom: 'result' }, { status: 201, body: { id: 'j-1' } });
    await audit.recordHttp(req(CAPTURE, { params: { id: `x'; DROP TABLE "Job";--` } as never }), { action: 'ssl.read', targetType: 'job', idFrom: 'param' }, { status: 404, error: new Error('nope') });
    assert.equal(rows[0].targetId, 'j-1');
    assert.equal(rows[0].outcome, 'ok');
    assert.equal(rows[1].targetId, null);
    assert.equal(rows[1].outcome, 'refused');
    assert.equal(safeId('a'.repeat(129)), null);
    assert.equal(safeId({ toString: () => 'x' }), null);
  });

  it('does not record requests without an identity, and survives a database failure', async () => {
    const { prisma, rows } = fakePrisma();
    await new AuditService(env, prisma).recordHttp({ method: 'GET', params: {} } as unknown as Request, { action: 'x.y', targetType: 'x', idFrom: 'param' }, { status: 200 });
    assert.equal(rows.length, 0);
    await new AuditService(env, fakePrisma(true).prisma).recordHttp(req(API), { action: 'x.y', targetType: 'x', idFrom: 'param' }, { status: 200 });
  });

  it('generates request ids and never takes one from the client', () => {
    const r = req(API, { headers: { 'x-request-id': 'forged' } } as never);
    const id = requestIdOf(r);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(requestIdOf(r), id, 'stable for one request');
    assert.notEqual(requestIdOf(req(API)), id);
    assert.equal(scrub(`a${API}b${API}`, [API]), 'a[token]b[token]');
  });
});
