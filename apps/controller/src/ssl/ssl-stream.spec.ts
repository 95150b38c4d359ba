import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ControllerEnv } from '../config/env';
import type { TokenIdentity } from '../auth/scopes';
import { StreamLimiter } from '../auth/stream-limiter';
import { SslController } from './ssl.controller';
import type { SslService } from './ssl.service';
import type { SslReadService } from './ssl-read.service';
import { FakeRes } from '../testing/fake-response';

Logger.overrideLogger(false);
const JOB = '00000000-0000-4000-8000-000000000001';
const token: TokenIdentity = { name: 'capture', scopes: ['jobs', 'ssl-capture'], fingerprint: '0123456789abcdef' };

function controller(limits: StreamLimiter, after: () => Promise<unknown[]>): SslController {
  const ssl = { sslJob: async () => ({ id: JOB }) } as unknown as SslService;
  const read = { after, jobState: async () => ({ terminal: false, status: 'running', reason: null, finishedAt: null }) } as unknown as SslReadService;
  return new SslController(ssl, read, limits);
}

const req = { headers: {} } as Request;
const open = (c: SslController, res: FakeRes): Promise<void> => c.stream(JOB, {}, token, req, res as unknown as Response);

describe('the ssl-events stream and its per-token count', () => {
  it('releases its slot when the client disconnects', async () => {
    const limits = new StreamLimiter({ sseStreamsPerToken: 1 } as ControllerEnv);
    const res = new FakeRes();
    const done = open(controller(limits, async () => []), res);
    await new Promise((r) => res.once('wrote', r));
    assert.equal(limits.count(token.fingerprint), 1);
    assert.throws(() => limits.acquire(token.fingerprint), (e: unknown) => e instanceof HttpException && e.getStatus() === 429);
    res.emit('close');
    await done;
    assert.equal(limits.count(token.fingerprint), 0);
  });

  it('releases its slot when reading fails, and ends the response', async () => {
    const limits = new StreamLimiter({ sseStreamsPerToken: 1 } as ControllerEnv);
    const res = new FakeRes();
    await open(
      controller(limits, async () => {
        throw new Error('database went away');
      }),
      res,
    );
    assert.equal(limits.count(token.fingerprint), 0);
    assert.ok(res.writableEnded);
    assert.match(res.chunks.join(''), /event: error/);
  });

  it('releases its slot when the socket closes while a poll hangs', async () => {
    const limits = new StreamLimiter({ sseStreamsPerToken: 1 } as ControllerEnv);
    const res = new FakeRes();
    let hang = false;
    void open(controller(limits, () => (hang ? new Promise<never>(() => undefined) : ((hang = true), Promise.resolve([])))), res);
    await new Promise((r) => res.once('wrote', r));
    res.emit('close');
    assert.equal(limits.count(token.fingerprint), 0, 'the close event alone gives the slot back');
  });

  it('is closed and released at shutdown', async () => {
    const limits = new StreamLimiter({ sseStreamsPerToken: 2 } as ControllerEnv);
    const [r1, r2] = [new FakeRes(), new FakeRes()];
    const c = controller(limits, async () => []);
    const done = [open(c, r1), open(c, r2)];
    await Promise.all([new Promise((r) => r1.once('wrote', r)), new Promise((r) => r2.once('wrote', r))]);
    assert.equal(limits.count(token.fingerprint), 2);
    limits.beforeApplicationShutdown();
    await Promise.all(done);
    assert.ok(r1.writableEnded && r2.writableEnded);
    assert.equal(limits.count(token.fingerprint), 0);
  });

  it('answers 429 past the limit before writing anything', async () => {
    const limits = new StreamLimiter({ sseStreamsPerToken: 1 } as ControllerEnv);
    const held = limits.acquire(token.fingerprint);
    const res = new FakeRes();
    await assert.rejects(open(controller(limits, async () => []), res), (e: unknown) => e instanceof HttpException && e.getStatus() === 429);
    assert.equal(res.statusCode, 0);
    assert.deepEqual(res.chunks, []);
    held.release();
    assert.equal(limits.count(token.fingerprint), 0);
  });
});
