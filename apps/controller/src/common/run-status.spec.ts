import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jobOutcome } from './run-status';

describe('jobOutcome', () => {
  it('is completed only when every run completed', () => {
    assert.deepEqual(jobOutcome([{ status: 'completed', reason: null, nodeName: 'a' }]), { status: 'completed', reason: null });
  });
  it('is partial when some runs failed, naming them', () => {
    const o = jobOutcome([
      { status: 'completed', reason: null, nodeName: 'a' },
      { status: 'failed', reason: 'agent disconnected', nodeName: 'b' },
    ]);
    assert.equal(o.status, 'partial');
    assert.equal(o.reason, 'b: agent disconnected');
  });
  it('is partial when a completed run lost data on the way, with its reason', () => {
    const o = jobOutcome([
      { status: 'completed', reason: null, nodeName: 'a', lostData: false },
      { status: 'completed', reason: '2 batch(es) could not be stored (deadlock detected)', nodeName: 'b', lostData: true },
    ]);
    assert.deepEqual(o, { status: 'partial', reason: 'b: 2 batch(es) could not be stored (deadlock detected)' });
    assert.equal(jobOutcome([{ status: 'completed', reason: null, nodeName: 'a', lostData: true }]).reason, 'a: data lost between agent and storage');
  });
  it('is stopped when a token stopped the job, naming it before any failure', () => {
    const runs = [
      { status: 'completed', reason: 'stopped early: stopped by the api token', nodeName: 'a' },
      { status: 'failed', reason: 'stopped by the api token before it started', nodeName: 'b' },
    ];
    assert.deepEqual(jobOutcome(runs, 'api'), { status: 'stopped', reason: 'stopped by the api token; b: stopped by the api token before it started' });
    assert.deepEqual(jobOutcome([runs[0]], 'capture'), { status: 'stopped', reason: 'stopped by the capture token' });
    assert.equal(jobOutcome(runs, null).status, 'partial', 'no token stopped it: as before');
  });
  it('is failed when nothing completed', () => {
    assert.equal(jobOutcome([{ status: 'failed', reason: 'x', nodeName: 'a' }]).status, 'failed');
    assert.equal(jobOutcome([]).status, 'failed');
  });
});
