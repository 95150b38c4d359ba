import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException } from '@nestjs/common';
import type { JobsService } from './jobs.service';
import type { ProfilesService } from '../profiles/profiles.service';
import type { ProfileExportsService } from './profile-exports.service';
import { ProfilesController } from './profiles.controller';

const ID = '00000000-0000-4000-8000-000000000002';

function controller(type: string): ProfilesController {
  const jobs = { get: async () => ({ id: ID, type, status: 'completed', params: {}, runs: [{ node: 'n1' }] }) } as unknown as JobsService;
  const profiles = { stacks: async () => [{ frames: ['curl', 'SSL_write'], count: 3n }] } as unknown as ProfilesService;
  return new ProfilesController(profiles, jobs, {} as ProfileExportsService);
}

describe('stacks of an ssl-capture job', () => {
  it('need the ssl-capture scope, in the SVG and the folded text', async () => {
    const c = controller('ssl-capture');
    await assert.rejects(c.svg(ID, ['jobs']), (e: unknown) => e instanceof ForbiddenException && /ssl-capture scope/.test(JSON.stringify(e.getResponse())));
    await assert.rejects(c.folded(ID, ['jobs']), ForbiddenException);
    await assert.rejects(c.folded(ID, []), ForbiddenException);
    assert.match(await c.folded(ID, ['jobs', 'ssl-capture']), /curl;SSL_write 3/);
  });

  it('of other job types do not', async () => {
    assert.match(await controller('cpu-profile').folded(ID, ['jobs']), /SSL_write 3/);
    assert.match(await controller('usdt').svg(ID, ['jobs']), /<svg/);
  });
});
