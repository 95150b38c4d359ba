import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostFacts } from '../host';
import { AGENT_MAX_PROFILE_STACKS } from './cpu-profile/aggregate';
import { BATCH_BOUNDS, capabilitiesOf, JOB_TYPES, realTracers, RUN_TYPES } from './registry';
import type { HostProbe } from './run-type';

const ALL = ['cpu-profile', 'usdt', 'memleak', 'ssl-capture', 'syscount', 'runqlat', 'biolatency', 'tcp', 'off-cpu', 'oomkill', 'exec-open'];
const host = (over: Partial<HostProbe> = {}): HostProbe => ({ btf: true, exists: () => true, objectBuilt: () => true, ...over });

describe('run type registry', () => {
  it('names every job type once, in registry order', () => {
    assert.deepEqual(JOB_TYPES, ALL);
    assert.deepEqual(Object.values(RUN_TYPES).map((t) => t.jobType), ALL);
  });

  it('capabilities: each type by its own prerequisites, in registry order', () => {
    // ssl-capture's filters and headers mode follow it: the controller sends jobs using them only to agents that list it.
    const withFeatures = ALL.flatMap((t) => (t === 'ssl-capture' ? [t, 'ssl-capture:filters'] : [t]));
    assert.deepEqual(capabilitiesOf(host()), withFeatures);
    assert.deepEqual(capabilitiesOf(host({ btf: false })), [], 'nothing loads without BTF');
    // cpu-profile and off-cpu name kernel stacks from /proc/kallsyms.
    assert.deepEqual(capabilitiesOf(host({ exists: (p) => p !== '/proc/kallsyms' })), ['usdt', 'memleak', 'ssl-capture', 'ssl-capture:filters', 'syscount', 'runqlat', 'biolatency', 'tcp', 'oomkill', 'exec-open']);
    assert.deepEqual(capabilitiesOf(host({ objectBuilt: (n) => n !== 'ssl' })), ['cpu-profile', 'usdt', 'memleak', 'syscount', 'runqlat', 'biolatency', 'tcp', 'off-cpu', 'oomkill', 'exec-open']);
    assert.deepEqual(capabilitiesOf(host({ objectBuilt: () => false })), ['cpu-profile', 'usdt', 'memleak']);
  });

  it('this node (BTF, /proc/kallsyms, every object built) lists every type', () => {
    assert.deepEqual(hostFacts().capabilities, ALL.flatMap((t) => (t === 'ssl-capture' ? [t, 'ssl-capture:filters'] : [t])));
  });

  it('the real tracer factories: one per type, nothing loaded until called', () => {
    assert.deepEqual(Object.keys(realTracers()).sort(), ['createBiolatency', 'createExecOpen', 'createMemleak', 'createOffCpu', 'createOomkill', 'createProfiler', 'createRunqlat', 'createSslTracer', 'createSyscount', 'createTcp', 'createTracer']);
    for (const f of Object.values(realTracers())) assert.equal(typeof f, 'function');
  });

  it('the result batches link.ts checks, with cpu-profile stacks capped', () => {
    assert.deepEqual(BATCH_BOUNDS, { profileBatch: { maxStacks: AGENT_MAX_PROFILE_STACKS }, usdtEvents: {}, memleakSnapshot: {}, sslEvents: {}, tcpConnections: {}, oomKills: {}, execOpenEvents: {} });
  });
});
