import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeSweepService } from './node-sweep.service';
import type { ControllerEnv } from '../config/env';

/** The sweep with its collaborators faked: when it may fail the runs of silent agents. */
function sweeper(graceMs: number) {
  let dbDown = false;
  const failSilentAt: number[] = [];
  const stopped: string[] = [];
  const svc = new NodeSweepService(
    { runGraceMs: graceMs, nodeSweepMs: 1000 } as ControllerEnv,
    { periodic: () => undefined } as never,
    {
      sweep: async () => {
        if (dbDown) throw new Error("Can't reach database server");
        return [];
      },
    } as never,
    {
      failSilent: async (now: number) => {
        failSilentAt.push(now);
        return [{ runId: 'r1', nodeName: 'n1', reason: 'silent' }];
      },
    } as never,
    { stopRun: async (runId: string) => void stopped.push(runId) } as never,
  );
  return { svc, failSilentAt, stopped, setDbDown: (down: boolean) => (dbDown = down) };
}

describe('node sweep: the run grace period counts only time the controller could hear', () => {
  it('fails silent runs only after listening for a whole grace period since boot, and tells the agent to stop them', async () => {
    const s = sweeper(10_000);
    await s.svc.sweep(0);
    await s.svc.sweep(9_999);
    assert.deepEqual(s.failSilentAt, [], 'a controller just started has not given its agents a chance to come back');
    await s.svc.sweep(10_000);
    assert.deepEqual(s.failSilentAt, [10_000]);
    assert.deepEqual(s.stopped, ['r1']);
  });

  it('starts counting again after a sweep that failed (PostgreSQL down): that silence was the controller\'s', async () => {
    const s = sweeper(10_000);
    await s.svc.sweep(0);
    s.setDbDown(true);
    await assert.rejects(s.svc.sweep(20_000), /Can't reach database server/);
    s.setDbDown(false);
    await s.svc.sweep(50_000);
    await s.svc.sweep(59_000);
    assert.deepEqual(s.failSilentAt, []);
    await s.svc.sweep(60_000);
    assert.deepEqual(s.failSilentAt, [60_000]);
  });
});
