import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseControllerAddrs, parseControllerOrder, parseLabels } from './config';

describe('agent config', () => {
  it('parses labels and names a bad one', () => {
    assert.deepEqual(parseLabels('zone=a, tier=web,empty='), { zone: 'a', tier: 'web', empty: '' });
    assert.throws(() => parseLabels('zone'), /bad label "zone"/);
    assert.throws(() => parseLabels('a b=c'), ConfigError);
  });
  it('requires the fleet CA, takes a bootstrap token only when it is one, and checks limits', () => {
    assert.throws(() => loadConfig({}), /TRACEFLEET_CA_CERT: not set/);
    const noToken = loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1' });
    assert.equal(noToken.identity.enrollmentToken, undefined, 'a node with a certificate needs no token');
    assert.deepEqual(noToken.identity.enrollAddrs, ['127.0.0.1:50052']);
    assert.equal(noToken.identity.stateDir, '/var/lib/tracefleet/agent');
    for (const bad of ['short', 'x'.repeat(257), 'has spaces in the middle', 'x'.repeat(20) + '\n']) {
      assert.throws(() => loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1', TRACEFLEET_ENROLLMENT_TOKEN: bad }), /TRACEFLEET_ENROLLMENT_TOKEN/);
    }
    assert.throws(() => loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1', TRACEFLEET_ENROLL_ADDR: 'nohost' }), /TRACEFLEET_ENROLL_ADDR: "nohost" is not host:port/);
    const base = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' };
    assert.equal(loadConfig(base).maxDurationSec, 3600);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_MAX_FREQUENCY_HZ: '0' }), /TRACEFLEET_AGENT_MAX_FREQUENCY_HZ/);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_NODE_NAME: 'bad name' }), /TRACEFLEET_NODE_NAME/);
  });
  it('bounds the results kept for the controller: memory, then the spool (never both 0), under the state directory by default', () => {
    const base = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1', TRACEFLEET_AGENT_STATE_DIR: '/srv/tf' };
    const d = loadConfig(base);
    assert.deepEqual([d.outboxBytes, d.spoolBytes, d.spoolDir], [64 * 2 ** 20, 1024 * 2 ** 20, '/srv/tf/spool']);
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_OUTBOX_MB: '0' }).outboxBytes, 0, 'every batch to the spool');
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_SPOOL_MB: '0' }).spoolBytes, 0, 'memory only');
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_OUTBOX_MB: '0', TRACEFLEET_AGENT_SPOOL_MB: '0' }), /both 0/);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_OUTBOX_MB: '-1' }), /TRACEFLEET_AGENT_OUTBOX_MB/);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_SPOOL_MB: '1e9' }), /TRACEFLEET_AGENT_SPOOL_MB/);
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_SPOOL_DIR: '/var/spool/tf' }).spoolDir, '/var/spool/tf');
  });
});

describe('controller addresses', () => {
  it('reads Python frames unless TRACEFLEET_AGENT_PYTHON_FRAMES is off, and names a bad value', () => {
    const base = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1' };
    assert.equal(loadConfig(base).pythonFrames, true);
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_PYTHON_FRAMES: 'off' }).pythonFrames, false);
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_PYTHON_FRAMES: 'on' }).pythonFrames, true);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_PYTHON_FRAMES: 'yes' }), /TRACEFLEET_AGENT_PYTHON_FRAMES: "yes" is not one of on, off/);
  });
  it('links uprobes through uprobe_multi unless TRACEFLEET_AGENT_UPROBE_LINKS is per-offset, and names a bad value', () => {
    const base = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1' };
    assert.equal(loadConfig(base).uprobeLinks, 'multi');
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_UPROBE_LINKS: 'per-offset' }).uprobeLinks, 'per-offset');
    for (const bad of ['MULTI', 'perf_event', 'multi ', '1']) {
      assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_UPROBE_LINKS: bad }), new RegExp(`TRACEFLEET_AGENT_UPROBE_LINKS: "${bad}" is not one of multi, per-offset`));
    }
  });
  it('takes one address or a comma-separated list of replicas, in order', () => {
    assert.deepEqual(parseControllerAddrs(undefined), ['127.0.0.1:50051']);
    assert.deepEqual(parseControllerAddrs('10.0.0.1:50051, ctl-b.example:50051,[::1]:7000'), ['10.0.0.1:50051', 'ctl-b.example:50051', '[::1]:7000']);
    assert.deepEqual(parseControllerAddrs('a:1,a:1,b:2'), ['a:1', 'b:2']);
    assert.deepEqual(loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1', TRACEFLEET_CONTROLLER_GRPC: 'a:1,b:2' }).controllerAddrs, ['a:1', 'b:2']);
  });
  it('names a bad address', () => {
    assert.throws(() => parseControllerAddrs('ctl-a:50051,ctl-b'), /TRACEFLEET_CONTROLLER_GRPC: "ctl-b" is not host:port/);
    assert.throws(() => parseControllerAddrs(' , '), /no address/);
  });
  it('spreads agents over the replicas unless told to start at the first address', () => {
    assert.equal(parseControllerOrder(undefined), 'spread');
    assert.equal(parseControllerOrder(' given '), 'given');
    assert.throws(() => parseControllerOrder('first\nTRACEFLEET_X=1'), /TRACEFLEET_CONTROLLER_ORDER: .* is neither spread nor given/);
  });
});
