import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseLabels } from './config';

describe('agent config', () => {
  it('parses labels and names a bad one', () => {
    assert.deepEqual(parseLabels('zone=a, tier=web,empty='), { zone: 'a', tier: 'web', empty: '' });
    assert.throws(() => parseLabels('zone'), /bad label "zone"/);
    assert.throws(() => parseLabels('a b=c'), ConfigError);
  });
  it('requires an enrollment token and checks limits', () => {
    assert.throws(() => loadConfig({}), /TRACEFLEET_ENROLLMENT_TOKEN/);
    const base = { TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' };
    assert.equal(loadConfig(base).maxDurationSec, 3600);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_MAX_FREQUENCY_HZ: '0' }), /TRACEFLEET_AGENT_MAX_FREQUENCY_HZ/);
    assert.throws(() => loadConfig({ ...base, TRACEFLEET_NODE_NAME: 'bad name' }), /TRACEFLEET_NODE_NAME/);
  });
});
