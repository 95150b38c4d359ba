import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException, UnprocessableEntityException } from '@nestjs/common';
import { inTemplate, parseTemplates, templatesNeedCapture } from './bundle';

async function messages(raw: unknown): Promise<string[]> {
  try {
    await parseTemplates(raw, 'bundle');
  } catch (err) {
    assert.ok(err instanceof BadRequestException);
    return (err.getResponse() as { message: string[] }).message;
  }
  return [];
}

describe('parseTemplates', () => {
  it('accepts job bodies without nodes, validated like POST /jobs', async () => {
    const dtos = await parseTemplates(
      [
        { type: 'cpu-profile', durationSec: 10, frequencyHz: 99, target: { comm: 'nginx' } },
        { type: 'memleak', durationSec: 10, target: { pid: 42 }, intervalSec: 5 },
      ],
      'bundle',
    );
    assert.equal(dtos.length, 2);
    assert.equal(dtos[1].intervalSec, 5);
  });
  it('names the template and the field', async () => {
    assert.deepEqual(await messages([{ type: 'cpu-profile', durationSec: 0, target: { pid: 1 } }]), ['bundle[0].durationSec must not be less than 1']);
    assert.deepEqual(await messages([{ type: 'cpu-profile', durationSec: 1, target: { pid: 1 } }, { type: 'x', durationSec: 1, target: { pid: -1 } }]), [
      'bundle[1].type must be one of: cpu-profile, usdt, memleak, ssl-capture, syscount, runqlat, biolatency, tcp, off-cpu, oomkill, exec-open',
      'bundle[1].target.pid must not be less than 1',
    ]);
    assert.deepEqual(await messages([{ type: 'cpu-profile', durationSec: 1, target: { pid: 1 }, nodes: 'all' }]), [
      'bundle[0].nodes is not allowed in a template: the selector given beside it applies to every job',
    ]);
    assert.deepEqual(await messages([{ type: 'cpu-profile', durationSec: 1, target: { pid: 1 }, colour: 'red' }]), ['bundle[0].property colour should not exist']);
    assert.deepEqual(await messages([]), ['bundle must be an array of 1 to 16 job templates']);
    assert.deepEqual(await messages(['cpu-profile']), ['bundle[0] must be a job body (an object with type, durationSec, target, ...)']);
  });
  it('says when the capture scope is needed', () => {
    assert.equal(templatesNeedCapture([{ type: 'cpu-profile' }, { type: 'ssl-capture' }]), true);
    assert.equal(templatesNeedCapture(undefined, { type: 'ssl-capture' }), true);
    assert.equal(templatesNeedCapture([{ type: 'memleak' }], undefined, 'x'), false);
  });
  it('re-words planning errors to name the template', () => {
    const e = inTemplate(new BadRequestException({ message: ['target.pid process 9 does not exist'] }), 'bundle', 2, 'memleak') as BadRequestException;
    assert.deepEqual((e.getResponse() as { message: string[] }).message, ['bundle[2].target.pid process 9 does not exist']);
    const skipped = [{ node: 'n1', reason: 'not connected' }];
    const u = inTemplate(new UnprocessableEntityException({ message: ['nodes: no connected node matches the selector'], skipped }), 'bundle', 0, 'cpu-profile') as UnprocessableEntityException;
    assert.equal(u.getStatus(), 422);
    assert.deepEqual(u.getResponse(), { statusCode: 422, error: 'Unprocessable Entity', message: ['bundle[0] (cpu-profile): nodes: no connected node matches the selector'], skipped });
  });
});
