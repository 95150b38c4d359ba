import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, sameSecret } from './tokens';

describe('tokens', () => {
  it('parses a bearer header and nothing else', () => {
    assert.equal(bearer('Bearer abc'), 'abc');
    assert.equal(bearer('bearer abc'), 'abc');
    assert.equal(bearer('Basic abc'), undefined);
    assert.equal(bearer('Bearer a b'), undefined);
    assert.equal(bearer(undefined), undefined);
  });
  it('compares secrets of any length', () => {
    assert.equal(sameSecret('x'.repeat(30), 'x'.repeat(30)), true);
    assert.equal(sameSecret('x', 'x'.repeat(30)), false);
  });
});
