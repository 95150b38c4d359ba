import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { growth } from './growth';

describe('growth', () => {
  it('flags steady growth and not churn', () => {
    assert.equal(growth([0n, 100n, 200n, 300n]).growing, true);
    assert.equal(growth([0n, 100n, 100n, 300n]).growthBytes, 300n);
    assert.equal(growth([100n, 50n, 300n]).growing, false, 'fell once: churn, not a leak');
    assert.equal(growth([100n, 100n]).growing, false);
    assert.equal(growth([5n]).growing, false, 'one snapshot shows no trend');
  });
});
