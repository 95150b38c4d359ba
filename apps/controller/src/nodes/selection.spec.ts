import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeSelector } from './selector';
import { noMatchReason, selectFrom, type Candidate } from './selection';

const node = (name: string, labels: Record<string, string>, over: Partial<Candidate> = {}): Candidate => ({
  name,
  labels,
  capabilities: ['cpu-profile', 'usdt', 'memleak'],
  state: 'connected',
  ...over,
});

const fleet: Candidate[] = [
  node('n1', { env: 'prod', zone: 'a' }),
  node('n2', { env: 'prod', zone: 'b', canary: 'true' }),
  node('n3', { env: 'prod', zone: 'a' }, { state: 'unreachable', statusReason: 'no heartbeat for 4.0 s' }),
  node('n4', { env: 'prod', zone: 'b' }, { state: 'gone' }),
  node('n5', { env: 'prod', zone: 'a' }, { capabilities: ['usdt'] }),
  node('d1', { env: 'dev', zone: 'a' }),
];

describe('selectFrom', () => {
  it('selects matching connected nodes able to run the type, and lists why the other matches were skipped', () => {
    const s = selectFrom(fleet, parseNodeSelector({ labels: { env: 'prod' } }), 'cpu-profile');
    assert.deepEqual(s.selected, ['n1', 'n2']);
    assert.equal(s.matched, 5);
    assert.deepEqual(s.skipped, [
      { node: 'n3', code: 'unreachable', reason: 'unreachable (no heartbeat for 4.0 s)' },
      { node: 'n4', code: 'gone', reason: 'gone' },
      { node: 'n5', code: 'capability', reason: 'cannot run cpu-profile (capabilities: usdt)' },
    ]);
  });

  it('applies set expressions', () => {
    const sel = parseNodeSelector({
      labels: { env: 'prod' },
      expressions: [
        { key: 'zone', operator: 'In', values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    });
    const s = selectFrom(fleet, sel, 'usdt');
    assert.deepEqual(s.selected, ['n1', 'n5']);
    assert.deepEqual(s.skipped.map((k) => k.node), ['n3', 'n4']);
  });

  it('names named nodes that never registered', () => {
    const s = selectFrom(fleet, parseNodeSelector({ names: ['n1', 'ghost'] }), 'cpu-profile');
    assert.deepEqual(s.selected, ['n1']);
    assert.deepEqual(s.skipped, [{ node: 'ghost', code: 'unknown', reason: 'not connected (never registered)' }]);
  });

  it('limit keeps that many, the least busy first, and lists the rest', () => {
    const busy = fleet.map((c) => ({ ...c, activeRuns: c.name === 'n1' ? 3 : 0 }));
    const s = selectFrom(busy, parseNodeSelector({ all: true, limit: 2 }), 'cpu-profile');
    assert.deepEqual(s.selected, ['d1', 'n2']);
    assert.deepEqual(s.skipped.filter((k) => k.code === 'limit'), [{ node: 'n1', code: 'limit', reason: 'not chosen: limit 2 reached' }]);
    const all = selectFrom(fleet, parseNodeSelector({ labels: { env: 'prod' }, limit: 5 }), 'cpu-profile');
    assert.deepEqual(all.selected, ['n1', 'n2'], 'a limit above the eligible count keeps them all');
  });
});

describe('noMatchReason', () => {
  it('says how many matched and why none could run', () => {
    const down = [node('n1', { env: 'prod' }, { state: 'unreachable' }), node('n2', { env: 'prod' }, { state: 'unreachable' }), node('n3', { env: 'prod' }, { capabilities: [] })];
    const sel = parseNodeSelector({ labels: { env: 'prod' } });
    assert.equal(noMatchReason(sel, selectFrom(down, sel, 'usdt'), 'usdt'), 'no node matches: 2 matched the labels but are unreachable (n1, n2); 1 matched the labels but cannot run usdt (n3)');
    const none = parseNodeSelector({ labels: { env: 'staging' } });
    assert.equal(noMatchReason(none, selectFrom(down, none, 'usdt'), 'usdt'), 'no node matches: no registered node matches env=staging');
    const ghost = parseNodeSelector({ names: ['no-such-node'] });
    assert.equal(noMatchReason(ghost, selectFrom(down, ghost, 'usdt'), 'usdt'), 'no node matches: no-such-node: not connected (never registered)');
    const gone = parseNodeSelector({ names: ['n1'] });
    assert.equal(noMatchReason(gone, selectFrom([node('n1', {}, { state: 'gone' })], gone, 'usdt'), 'usdt'), 'no node matches: 1 matched by name but is gone (n1)');
  });
});
