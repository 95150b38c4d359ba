import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpException, Logger, NotFoundException } from '@nestjs/common';
import type { ControllerEnv } from '../config/env';
import type { TokenIdentity } from '../auth/scopes';
import { StreamLimiter } from '../auth/stream-limiter';
import { JobProgressController } from './job-progress.controller';
import { JobProgressService } from './job-progress.service';
import type { JobsService } from './jobs.service';
import { FakeRes } from '../testing/fake-response';
import { PROGRESS_JOB, progressView } from '../testing/progress-views';

Logger.overrideLogger(false);
const JOB = PROGRESS_JOB;
const apiToken: TokenIdentity = { name: 'api', scopes: ['jobs'], fingerprint: 'fedcba9876543210' };

/** A JobsService whose get() answers a running job `JOB` (counting reads) and 404 for any other id. */
function jobs(): JobsService & { reads: number } {
  const fake = {
    reads: 0,
    get: async (id: string) => {
      if (id !== JOB) throw new NotFoundException(`job ${id} not found`);
      fake.reads++;
      return progressView({ params: { durationSec: 4, redactPatterns: ['x'] } });
    },
  };
  return fake as unknown as JobsService & { reads: number };
}

const setup = (perToken = 1) => {
  const limits = new StreamLimiter({ sseStreamsPerToken: perToken } as ControllerEnv);
  const svc = jobs();
  return { limits, svc, controller: new JobProgressController(new JobProgressService(svc), limits) };
};
const open = (c: JobProgressController, id: string, res: FakeRes): Promise<void> => c.stream(id, apiToken, res.res);
const status = (code: number) => (e: unknown) => e instanceof HttpException && e.getStatus() === code;

describe('GET /jobs/:id/progress', () => {
  it('400 for an id that is not a UUID, 404 for no such job: before any header, holding no stream slot', async () => {
    const { limits, controller, svc } = setup();
    for (const id of ['nope', `${JOB}x`, `../${JOB}`, "' OR '1'='1", `${JOB.slice(0, 35)}%`, 'a'.repeat(10_000), `${JOB}\n`]) {
      const res = new FakeRes();
      await assert.rejects(open(controller, id, res), status(400), id.slice(0, 40));
      assert.equal(res.statusCode, 0);
    }
    const res = new FakeRes();
    await assert.rejects(open(controller, '00000000-0000-4000-8000-00000000000b', res), status(404));
    assert.deepEqual([res.statusCode, res.chunks], [0, []]);
    assert.equal(limits.count(apiToken.fingerprint), 0);
    assert.equal(svc.reads, 0);
  });

  it('streams text/event-stream for the jobs-only token, without params, and counts in its stream limit', async () => {
    const { limits, controller } = setup(1);
    const res = new FakeRes();
    const done = open(controller, JOB, res);
    await res.wrote();
    await res.wrote();
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['Content-Type'], /^text\/event-stream/);
    const body = res.chunks.join('');
    assert.match(body, /^retry: 1000\n\nevent: progress\ndata: \{"id":"/);
    assert.ok(!body.includes('redactPatterns') && !body.includes('params'), body);
    assert.equal(limits.count(apiToken.fingerprint), 1);
    await assert.rejects(open(controller, JOB, new FakeRes()), status(429));
    res.emit('close');
    await done;
    assert.equal(limits.count(apiToken.fingerprint), 0);
  });

  it('stops reading the job once the client goes away', async () => {
    const { controller, svc } = setup();
    const res = new FakeRes();
    const done = open(controller, JOB, res);
    await res.wrote();
    await res.wrote();
    res.emit('close');
    const started = Date.now();
    await done;
    assert.ok(Date.now() - started < 200, 'the pause between polls ends with the client');
    const reads = svc.reads;
    assert.ok(res.writableEnded);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(svc.reads, reads, 'no poll after the client left');
  });

  it('reads a job once per shared window for all its streams here, and at every poll for one stream alone', async () => {
    const watch = async (streams: number): Promise<number> => {
      const { controller, svc } = setup(streams);
      const all = Array.from({ length: streams }, () => new FakeRes());
      const done = all.map((res) => open(controller, JOB, res));
      await new Promise((r) => setTimeout(r, 1400));
      for (const res of all) res.emit('close');
      await Promise.all(done);
      for (const res of all) assert.match(res.chunks.join(''), /event: progress/, 'every stream had its progress');
      return svc.reads;
    };
    // Polls at 0, 450, 900 and 1350 ms: one stream reads at each (its first read also answers the 404 check).
    assert.ok((await watch(1)) >= 3, 'one stream alone reads at its polls');
    // Eight streams polling on their own: without sharing, 8 × 4 reads; shared, one per 400 ms window.
    const shared = await watch(8);
    assert.ok(shared >= 1 && shared <= 5, `8 streams over 1.4 s read the job ${shared} times`);
  });
});
