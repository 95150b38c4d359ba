import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_NODE_FLAGS, missingNodeFlags } from './node-flags';

describe('missingNodeFlags', () => {
  it('names what the command line and NODE_OPTIONS left out', () => {
    assert.deepEqual(missingNodeFlags([], ''), [...AGENT_NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags(['--max-semi-space-size=1'], ''), []);
    // Any value counts (an operator may choose another size), and V8's underscore spelling too.
    assert.deepEqual(missingNodeFlags(['--max_semi_space_size=4'], ''), []);
    assert.deepEqual(missingNodeFlags(['--inspect'], '--max-semi-space-size=2 --trace-warnings'), []);
    assert.deepEqual(missingNodeFlags(['--max-old-space-size=100'], '--max-semi-space'), [...AGENT_NODE_FLAGS]);
  });
});
