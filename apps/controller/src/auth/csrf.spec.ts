import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { changesState, csrfMatches, csrfTokenFor, originMatchesHost } from './csrf';

const V = randomBytes(32).toString('base64url');

describe('CSRF tokens', () => {
  it('are derived from the cookie: stable, distinct per session, not the cookie', () => {
    const t = csrfTokenFor(V);
    assert.equal(csrfTokenFor(V), t);
    assert.notEqual(csrfTokenFor(randomBytes(32).toString('base64url')), t);
    assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!t.includes(V) && t !== V);
  });

  it('match only exactly, whatever is presented', () => {
    const t = csrfTokenFor(V);
    assert.equal(csrfMatches(t, V), true);
    for (const wrong of [undefined, '', t.slice(1), `${t}x`, t.toUpperCase(), ` ${t}`, V, csrfTokenFor(`${V.slice(1)}A`), 'x'.repeat(1 << 16), [t], [t, t]] as (string | string[] | undefined)[]) {
      assert.equal(csrfMatches(wrong, V), false, JSON.stringify(wrong)?.slice(0, 40));
    }
  });

  it('are needed for everything but GET, HEAD and OPTIONS', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'get']) assert.equal(changesState(m), false, m);
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', '', undefined]) assert.equal(changesState(m), true, String(m));
  });
});

describe('Origin against Host', () => {
  it('passes no Origin, and an Origin naming this host and port', () => {
    assert.equal(originMatchesHost(undefined, '127.0.0.1:8080'), true);
    assert.equal(originMatchesHost('http://127.0.0.1:8080', '127.0.0.1:8080'), true);
    assert.equal(originMatchesHost('https://Console.Example.NET', 'console.example.net'), true, 'case');
    assert.equal(originMatchesHost('http://example.net', 'example.net:80'), true, 'a default port written out');
    assert.equal(originMatchesHost('https://[::1]:8443', '[::1]:8443'), true);
  });

  it('refuses other hosts, ports, schemes, "null" and garbage', () => {
    const host = '127.0.0.1:8080';
    for (const o of ['http://127.0.0.1:8081', 'http://evil.example', 'http://127.0.0.1:8080.evil.example', 'null', '', 'file:///etc/passwd', 'javascript:alert(1)', 'http://user@127.0.0.1:8080x', '127.0.0.1:8080', ['http://127.0.0.1:8080']] as (string | string[])[]) {
      assert.equal(originMatchesHost(o, host), false, String(o));
    }
    assert.equal(originMatchesHost('http://127.0.0.1:8080', undefined), false, 'no Host to compare with');
    assert.equal(originMatchesHost('http://a', 'a/b'), false);
    assert.equal(originMatchesHost('http://b', 'a@b'), false);
  });
});
