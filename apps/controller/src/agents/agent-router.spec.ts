import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { routeFor } from './agent-router';
import type { NodeRoute } from '../nodes/nodes.service';
import { commandQueueName, decodeWire, encodeWire } from '../queue/agent-commands';

const node = (over: Partial<NodeRoute>): NodeRoute => ({ id: 'id', name: 'n1', state: 'connected', replicaId: 'r-b', sessionId: 's1', ...over });

describe('replica routing', () => {
  it('sends to this replica when it holds the session, else to the replica the registry names', () => {
    assert.deepEqual(routeFor(node({ replicaId: 'r-b' }), 'r-a', true), { kind: 'here' });
    assert.deepEqual(routeFor(node({ replicaId: 'r-b' }), 'r-a', false), { kind: 'replica', replicaId: 'r-b' });
    assert.equal(commandQueueName('r-b'), 'agent-commands-r-b');
  });

  it('does not route to a node without a live session, and says why', () => {
    assert.deepEqual(routeFor(undefined, 'r-a', false), { kind: 'none', reason: 'never registered' });
    assert.deepEqual(routeFor(node({ state: 'unreachable' }), 'r-a', false), { kind: 'none', reason: 'unreachable' });
    assert.deepEqual(routeFor(node({ state: 'gone' }), 'r-a', false), { kind: 'none', reason: 'gone' });
    assert.deepEqual(routeFor(node({ replicaId: null }), 'r-a', false), { kind: 'none', reason: 'no session' });
    // The registry says "here" but this replica has no such session (it restarted under the same id): stale.
    assert.deepEqual(routeFor(node({ replicaId: 'r-a' }), 'r-a', false), { kind: 'none', reason: 'its session on replica r-a has ended' });
  });

  it('carries bigints through BullMQ results', () => {
    const answer = { requestId: 'x', probes: [{ fileOffset: 0x1234n, semaphore: 0n, args: [{ size: -4 }] }], error: '' };
    const wire = encodeWire(answer);
    assert.doesNotThrow(() => JSON.stringify(wire));
    assert.deepEqual(decodeWire(JSON.parse(JSON.stringify(wire))), answer);
    assert.equal(encodeWire(undefined), null);
  });
});
