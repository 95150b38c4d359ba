import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { duplicateRefusal, type LiveSession } from './duplicate-agent';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const live = (over: Partial<LiveSession> = {}): LiveSession => ({
  status: 'connected',
  sessionId: 's-1',
  instanceId: 'aaaaaaaa-1111',
  replicaId: 'ctl-a',
  lastSeenAt: new Date(NOW - 2000),
  ...over,
});

describe('a second agent with a live node name', () => {
  it('is refused while the node is connected, heard from within the window, by another instance', () => {
    const why = duplicateRefusal('web-1', live(), 'bbbbbbbb-2222', NOW, 15_000)!;
    assert.match(why, /node web-1 is already connected on replica ctl-a from another agent \(instance aaaaaaaa, heard 2\.0 s ago\)/);
    assert.match(why, /this agent \(instance bbbbbbbb\) is refused: stop the other one, or give this one its own name \(TRACEFLEET_NODE_NAME\)/);
  });

  it('lets in the same instance reconnecting, a new name, a silent or ended session, and agents without an instance id', () => {
    assert.equal(duplicateRefusal('web-1', live(), 'aaaaaaaa-1111', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', undefined, 'bbbbbbbb-2222', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', live({ lastSeenAt: new Date(NOW - 15_000) }), 'bbbbbbbb-2222', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', live({ status: 'unreachable' }), 'bbbbbbbb-2222', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', live({ sessionId: null }), 'bbbbbbbb-2222', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', live(), '', NOW, 15_000), undefined);
    assert.equal(duplicateRefusal('web-1', live({ instanceId: null }), 'bbbbbbbb-2222', NOW, 15_000), undefined);
  });

  it('names a hostile instance id by its first 8 characters only', () => {
    const why = duplicateRefusal('web-1', live({ instanceId: 'x'.repeat(10_000) }), '\n'.repeat(10_000), NOW, 15_000)!;
    assert.ok(why.length < 400, `${why.length} characters`);
  });
});
