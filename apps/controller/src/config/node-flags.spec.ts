import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROLLER_NODE_FLAGS, missingControllerFlags } from './node-flags';

describe('missingControllerFlags', () => {
  it('names what the command line and NODE_OPTIONS left out', () => {
    assert.deepEqual(missingControllerFlags([], ''), [...CONTROLLER_NODE_FLAGS]);
    assert.deepEqual(missingControllerFlags([...CONTROLLER_NODE_FLAGS], ''), []);
    assert.deepEqual(missingControllerFlags(['--max-old-space-size=384'], ''), ['--max-semi-space-size=32']);
    // Any value counts (an operator may choose another size), V8's underscore spelling too, and NODE_OPTIONS.
    assert.deepEqual(missingControllerFlags(['--max_old_space_size=1024'], '--inspect --max-semi-space-size=64'), []);
    // A prefix of a flag's name is not the flag.
    assert.deepEqual(missingControllerFlags(['--max-old-space'], '--max-semi-space'), [...CONTROLLER_NODE_FLAGS]);
  });
});
