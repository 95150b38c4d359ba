import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException } from '@nestjs/common';
import type { Response } from 'express';
import type { JobsService } from './jobs.service';
import type { ProfileStreamsService } from './profile-streams.service';
import { ProfilesController } from './profiles.controller';

const ID = '00000000-0000-4000-8000-000000000002';

/** The routes check the scope, then hand the response to the stream service (a fake here that says which output ran). */
function controller(type: string): { c: ProfilesController; served: string[] } {
  const served: string[] = [];
  const jobs = { get: async () => ({ id: ID, type, status: 'completed', params: {}, runs: [{ node: 'n1' }] }) } as unknown as JobsService;
  const streams = {
    svg: async () => void served.push('svg'),
    folded: async () => void served.push('folded'),
  } as unknown as ProfileStreamsService;
  return { c: new ProfilesController(jobs, streams), served };
}

const res = {} as Response;

describe('stacks of an ssl-capture job', () => {
  it('need the ssl-capture scope, in the SVG and the folded text', async () => {
    const { c, served } = controller('ssl-capture');
    await assert.rejects(c.svg(ID, ['jobs'], res), (e: unknown) => e instanceof ForbiddenException && /ssl-capture scope/.test(JSON.stringify(e.getResponse())));
    await assert.rejects(c.folded(ID, ['jobs'], res), ForbiddenException);
    await assert.rejects(c.folded(ID, [], res), ForbiddenException);
    assert.deepEqual(served, []);
    await c.folded(ID, ['jobs', 'ssl-capture'], res);
    assert.deepEqual(served, ['folded']);
  });

  it('of other job types do not', async () => {
    const cpu = controller('cpu-profile');
    await cpu.c.folded(ID, ['jobs'], res);
    const usdt = controller('usdt');
    await usdt.c.svg(ID, ['jobs'], res);
    assert.deepEqual([...cpu.served, ...usdt.served], ['folded', 'svg']);
  });
});
