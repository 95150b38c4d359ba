import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { hashToken, newToken, tokenRefusal, TOKEN_RE } from './bootstrap-token';

const now = new Date('2026-12-03T12:00:00Z');
const row = (over: Partial<{ maxUses: number; uses: number; expiresAt: Date; nodeName: string | null }> = {}) => ({
  maxUses: 3,
  uses: 0,
  expiresAt: new Date(now.getTime() + 60_000),
  nodeName: null,
  ...over,
});

describe('bootstrap token rules', () => {
  it('accepts a known, unexpired token with uses left, for any name or its bound name', () => {
    assert.equal(tokenRefusal(row(), 'n1', now), null);
    assert.equal(tokenRefusal(row({ uses: 2 }), 'n1', now), null);
    assert.equal(tokenRefusal(row({ nodeName: 'n1' }), 'n1', now), null);
  });

  it('says why it refuses, with the status the agent sees', () => {
    const cases: [Parameters<typeof tokenRefusal>[0], string, status, RegExp][] = [
      [null, 'n1', status.UNAUTHENTICATED, /unknown bootstrap token/],
      [row({ uses: 3 }), 'n1', status.PERMISSION_DENIED, /used up \(3 of 3 uses\)/],
      [row({ uses: 4 }), 'n1', status.PERMISSION_DENIED, /used up/],
      [row({ expiresAt: now }), 'n1', status.PERMISSION_DENIED, /expired at 2026-12-03T12:00:00.000Z/],
      [row({ expiresAt: new Date(0), uses: 3 }), 'n1', status.PERMISSION_DENIED, /expired/],
      [row({ nodeName: 'n2' }), 'n1', status.PERMISSION_DENIED, /is for node n2, not n1/],
    ];
    for (const [r, name, code, re] of cases) {
      const e = tokenRefusal(r, name, now);
      assert.ok(e, JSON.stringify(r));
      assert.equal(e.code, code);
      assert.match(e.message, re);
    }
  });

  it('new tokens are random, well-formed, and stored only as their SHA-256', () => {
    const a = newToken();
    const b = newToken();
    assert.notEqual(a, b);
    assert.match(a, /^tfb_[A-Za-z0-9_-]{43}$/);
    assert.ok(TOKEN_RE.test(a));
    assert.equal(hashToken(a).length, 64);
    assert.notEqual(hashToken(a), hashToken(b));
    for (const bad of ['', 'short', 'a b c d e f g h i j', '\u0000'.repeat(20), 'x'.repeat(257)]) assert.equal(TOKEN_RE.test(bad), false, JSON.stringify(bad));
  });
});
