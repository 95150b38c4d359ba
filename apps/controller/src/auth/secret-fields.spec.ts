import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hideSecrets } from './secret-fields';
import { jobViewFor, type JobView } from '../jobs/job.view';
import { scheduleViewFor, type ScheduleView } from '../schedules/schedule.view';

const SECRET = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
const JOBS = ['jobs'] as const;
const CAPTURE = ['jobs', 'ssl-capture'] as const;

describe('fields that can hold secrets', () => {
  it('shows redactPatterns to the ssl-capture scope only; others get a count', () => {
    const params = { type: 'ssl-capture', redactHeaders: ['x-api-key'], redactPatterns: [SECRET, 'password=[^&]+'], target: { comm: 'curl' } };
    assert.deepEqual(hideSecrets(params, CAPTURE), params);
    const hidden = hideSecrets(params, JOBS);
    assert.deepEqual(hidden, { type: 'ssl-capture', redactHeaders: ['x-api-key'], redactPatternsHidden: 2, target: { comm: 'curl' } });
    assert.deepEqual(params.redactPatterns, [SECRET, 'password=[^&]+'], 'the original is not changed');
    assert.deepEqual(hideSecrets(params, []), hidden, 'no scopes at all: hidden too');
  });

  it('finds them at any depth of a bundle, and never trusts a stored count or odd shapes', () => {
    const bundle = [{ type: 'cpu-profile' }, { type: 'ssl-capture', redactPatterns: [SECRET], redactPatternsHidden: 0 }, { nested: { redactPatterns: SECRET } }];
    const out = JSON.stringify(hideSecrets(bundle, JOBS));
    assert.ok(!out.includes(SECRET), out);
    assert.deepEqual(JSON.parse(out), [{ type: 'cpu-profile' }, { type: 'ssl-capture', redactPatternsHidden: 1 }, { nested: { redactPatternsHidden: 1 } }]);
    let deep: Record<string, unknown> = { redactPatterns: [SECRET] };
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    assert.ok(!JSON.stringify(hideSecrets(deep, JOBS)).includes(SECRET), 'a hostile depth is cut, not walked into a stack overflow');
    assert.equal(hideSecrets(null, JOBS), null);
    assert.equal(hideSecrets('redactPatterns', JOBS), 'redactPatterns');
  });

  it('applies to the job and schedule views', () => {
    const job = { id: 'j', params: { type: 'ssl-capture', redactPatterns: [SECRET] } } as unknown as JobView;
    assert.ok(!JSON.stringify(jobViewFor(job, JOBS)).includes(SECRET));
    assert.equal((jobViewFor(job, JOBS).params as { redactPatternsHidden: number }).redactPatternsHidden, 1);
    assert.ok(JSON.stringify(jobViewFor(job, CAPTURE)).includes(SECRET));
    const sched = { id: 's', bundle: [{ type: 'ssl-capture', redactPatterns: [SECRET, SECRET] }] } as unknown as ScheduleView;
    assert.ok(!JSON.stringify(scheduleViewFor(sched, JOBS)).includes(SECRET));
    assert.ok(JSON.stringify(scheduleViewFor(sched, CAPTURE)).includes(SECRET));
  });
});
