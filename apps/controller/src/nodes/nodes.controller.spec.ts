import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { parseNodeFilter } from './nodes.controller';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BadRequestException);
    return JSON.stringify(err.getResponse());
  }
  assert.fail('expected a BadRequestException');
}

describe('GET /nodes filters', () => {
  it('parses status, label selector, capability and name prefix', () => {
    assert.deepEqual(parseNodeFilter({}), {});
    assert.deepEqual(parseNodeFilter({ status: 'connected,unreachable', labelSelector: 'env=prod,zone in (a,b)', capability: 'cpu-profile', namePrefix: 'web-' }), {
      status: ['connected', 'unreachable'],
      selector: { all: false, labels: { env: 'prod' }, expressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] },
      capability: 'cpu-profile',
      namePrefix: 'web-',
    });
  });
  it('names the bad parameter', () => {
    assert.match(message(() => parseNodeFilter({ status: 'online' })), /status must be a comma-separated list of connected, unreachable, gone \(got \\"online\\"\)/);
    assert.match(message(() => parseNodeFilter({ labelSelector: 'zone in (a' })), /labelSelector/);
    assert.match(message(() => parseNodeFilter({ capability: 'cpu profile' })), /capability/);
    assert.match(message(() => parseNodeFilter({ namePrefix: 'a b' })), /namePrefix/);
  });
});
