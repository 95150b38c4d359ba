import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpException } from '@nestjs/common';
import { HealthController } from './health.controller';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import type { AgentGateway } from '../agents/agent.gateway';
import type { JobQueue } from '../queue/job-queue';

function controller(db: () => Promise<unknown>, ping: () => Promise<void>): HealthController {
  const prisma = { $queryRaw: () => db() } as unknown as PrismaService;
  const queue = { ping } as unknown as JobQueue;
  return new HealthController({ replicaId: 'r1' } as ControllerEnv, prisma, {} as AgentGateway, queue);
}

describe('health', () => {
  it('live asks nothing', () => {
    assert.deepEqual(controller(() => Promise.reject(new Error('down')), () => Promise.reject(new Error('down'))).live(), { status: 'ok', replicaId: 'r1' });
  });

  it('ready answers 200 when PostgreSQL and Redis answer', async () => {
    const r = await controller(async () => [{ '?column?': 1 }], async () => undefined).ready();
    assert.deepEqual(r, { status: 'ok', replicaId: 'r1', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('ready answers 503 naming what did not answer', async () => {
    await assert.rejects(
      controller(async () => [], () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6380'))).ready(),
      (e: HttpException) => {
        assert.equal(e.getStatus(), 503);
        const body = e.getResponse() as { message: string[]; checks: Record<string, string> };
        assert.equal(body.checks.postgres, 'ok');
        assert.match(body.checks.redis, /^redis: connect ECONNREFUSED/);
        assert.deepEqual(body.message, [body.checks.redis]);
        return true;
      },
    );
    await assert.rejects(controller(() => Promise.reject(new Error('too many clients')), async () => undefined).ready(), (e: HttpException) => {
      assert.match(JSON.stringify(e.getResponse()), /postgres: too many clients/);
      return true;
    });
  });
});
