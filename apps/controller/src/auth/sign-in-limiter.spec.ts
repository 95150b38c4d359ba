import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignInLimiter } from './sign-in-limiter';

describe('failed sign-ins per address', () => {
  it('refuses an address past its failures until its window ends, others not', () => {
    const l = new SignInLimiter(3, 1000);
    for (let i = 0; i < 3; i++) {
      assert.equal(l.retryAfterMs('a', 100), 0);
      l.fail('a', 100 + i);
    }
    assert.equal(l.retryAfterMs('a', 500), 600);
    assert.equal(l.retryAfterMs('b', 500), 0);
    assert.equal(l.retryAfterMs('a', 1100), 0, 'a new window');
    assert.equal(l.size, 0, 'the old window is forgotten');
  });

  it('keeps a bounded number of addresses', () => {
    const l = new SignInLimiter(1, 60_000, 100);
    for (let i = 0; i < 1000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`, i);
    assert.ok(l.size <= 100, `${l.size}`);
    assert.ok(l.retryAfterMs('10.0.3.231', 1000) > 0, 'the newest are kept');
  });
});
