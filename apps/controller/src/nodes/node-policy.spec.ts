import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeSelector } from './selector';
import { policyFromRegister, policyRefusal, storedPolicy, type NodePolicy } from './node-policy';
import { noMatchReason, selectFrom, type Candidate } from './selection';

const open: NodePolicy = {
  allowJobTypes: ['cpu-profile', 'usdt', 'memleak', 'ssl-capture'],
  allowSslCapture: true,
  allowRedactionOff: false,
  maxConcurrentRuns: 16,
  maxKernelMemoryBytes: 512 << 20,
  maxDurationSec: 3600,
};
const job = (type: string, over: { durationSec?: number; redactionOff?: boolean } = {}) => ({ type, durationSec: over.durationSec ?? 10, params: { redaction: !over.redactionOff } });

describe('node policy', () => {
  it('stores what the agent registered, and null for an agent that sent none', () => {
    assert.equal(policyFromRegister(undefined), null);
    assert.deepEqual(
      policyFromRegister({ allowJobTypes: ['memleak'], allowSslCapture: false, allowRedactionOff: false, maxConcurrentRuns: 2, maxKernelMemoryBytes: 64n << 20n, maxDurationSec: 60 }),
      { allowJobTypes: ['memleak'], allowSslCapture: false, allowRedactionOff: false, maxConcurrentRuns: 2, maxKernelMemoryBytes: 64 << 20, maxDurationSec: 60 },
    );
  });

  it('hostile registrations: unknown job types dropped, numbers clamped to the agent\'s own ranges', () => {
    const p = policyFromRegister({
      allowJobTypes: ['memleak', 'memleak', '__proto__', 'x'.repeat(10_000), 'kprobe'],
      allowSslCapture: true,
      allowRedactionOff: true,
      maxConcurrentRuns: 0xffffffff,
      maxKernelMemoryBytes: 0xffffffffffffffffn,
      maxDurationSec: 0xffffffff,
    })!;
    assert.deepEqual(p.allowJobTypes, ['memleak']);
    assert.equal(p.maxConcurrentRuns, 256);
    assert.equal(p.maxKernelMemoryBytes, 2 ** 40);
    assert.equal(p.maxDurationSec, 86400);
  });

  it('reads a stored policy back; anything malformed is none', () => {
    assert.deepEqual(storedPolicy(open), open);
    for (const bad of [null, 'x', [], {}, { allowJobTypes: 'memleak', maxDurationSec: 1 }]) assert.equal(storedPolicy(bad), null);
  });

  it('says why it refuses a job, naming the key', () => {
    assert.equal(policyRefusal(null, job('ssl-capture', { redactionOff: true })), undefined);
    assert.equal(policyRefusal(open, job('memleak')), undefined);
    assert.match(policyRefusal({ ...open, allowJobTypes: ['cpu-profile'] }, job('memleak'))!, /does not run memleak jobs \(allowJobTypes: cpu-profile\)/);
    assert.match(policyRefusal({ ...open, allowSslCapture: false }, job('ssl-capture'))!, /allowSslCapture: false/);
    assert.match(policyRefusal(open, job('ssl-capture', { redactionOff: true }))!, /redaction off \(allowRedactionOff: false\)/);
    assert.equal(policyRefusal({ ...open, allowRedactionOff: true }, job('ssl-capture', { redactionOff: true })), undefined);
    assert.match(policyRefusal({ ...open, maxDurationSec: 5 }, job('cpu-profile'))!, /durationSec 10 is over its policy \(maxDurationSec: 5\)/);
  });

  it('selection skips a node whose policy refuses the job, with the reason, and says so when none is left', () => {
    const node = (name: string, policy: NodePolicy | null): Candidate => ({ name, labels: {}, capabilities: open.allowJobTypes, state: 'connected', policy });
    const fleet = [node('strict', { ...open, allowSslCapture: false }), node('open', open), node('old', null)];
    const sel = parseNodeSelector('all');
    const s = selectFrom(fleet, sel, 'ssl-capture', job('ssl-capture'));
    assert.deepEqual(s.selected, ['old', 'open']);
    assert.deepEqual(s.skipped, [{ node: 'strict', code: 'policy', reason: "refused by the node's policy: its policy does not allow TLS plaintext capture (allowSslCapture: false)" }]);
    // Without the job (callers that only ask about capabilities) nothing is skipped for policy.
    assert.deepEqual(selectFrom(fleet, sel, 'ssl-capture').selected, ['old', 'open', 'strict']);
    const none = selectFrom(fleet.slice(0, 2), sel, 'ssl-capture', job('ssl-capture', { redactionOff: true }));
    assert.deepEqual(none.selected, []);
    assert.match(noMatchReason(sel, none, 'ssl-capture'), /no node matches: open: refused by the node's policy: .*allowRedactionOff: false\); strict: refused by the node's policy: .*allowSslCapture: false\)/);
  });
});
