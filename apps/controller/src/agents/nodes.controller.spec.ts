import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { badRequestMessage } from '../testing/bad-request';
import { parseNodeFilter } from './nodes.controller';

const message = badRequestMessage;

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
