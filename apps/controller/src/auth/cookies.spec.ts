import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MAX_COOKIE_HEADER, clearSessionCookie, readSessionCookie, sessionSetCookie } from './cookies';

const V = randomBytes(32).toString('base64url');

describe('the session cookie', () => {
  it('finds tf_session among other cookies, whitespace and odd neighbours', () => {
    assert.deepEqual(readSessionCookie(`tf_session=${V}`), { kind: 'ok', value: V });
    assert.deepEqual(readSessionCookie(`a=1; tf_session=${V}; b=2`), { kind: 'ok', value: V });
    assert.deepEqual(readSessionCookie(`  tf_session = ${V} ;`), { kind: 'ok', value: V });
    assert.deepEqual(readSessionCookie(`x="a;b"; =; ;;; noequals; é=ü; tf_session=${V}`), { kind: 'ok', value: V }, 'junk beside it is ignored');
    // Node joins repeated Cookie headers; an array (other servers) is read the same way.
    assert.deepEqual(readSessionCookie(['a=1', `tf_session=${V}`]), { kind: 'ok', value: V });
  });

  it('is absent when no cookie has exactly its name', () => {
    for (const h of [undefined, '', 'a=1', `TF_SESSION=${V}`, `tf_session_x=${V}`, `xtf_session=${V}`, `tf_session${V}`]) {
      assert.deepEqual(readSessionCookie(h), { kind: 'none' }, String(h).slice(0, 40));
    }
  });

  it('refuses two of them (cookie tossing), in one header or two', () => {
    const other = randomBytes(32).toString('base64url');
    assert.equal(readSessionCookie(`tf_session=${V}; tf_session=${other}`).kind, 'bad');
    assert.equal(readSessionCookie(`tf_session=${V}; tf_session=${V}`).kind, 'bad', 'even the same value twice');
    assert.equal(readSessionCookie([`tf_session=${V}`, `tf_session=${other}`]).kind, 'bad');
  });

  it('refuses any value that is not 43 base64url characters, without decoding it', () => {
    const hostile = [
      '',
      V.slice(1),
      `${V}A`,
      `"${V}"`,
      `${V.slice(0, 42)}=`,
      `${V.slice(0, 42)}%`,
      `${V.slice(0, 20)};${V.slice(20)}`,
      `${V.slice(0, 42)}\u0000`,
      `${V.slice(0, 42)}é`,
      '%E0%A4%A'.padEnd(43, 'A'),
      'x'.repeat(5000),
      `${V}\r\nSet-Cookie: a=b`,
    ];
    for (const v of hostile) {
      const r = readSessionCookie(`tf_session=${v}`);
      assert.notEqual(r.kind, 'ok', JSON.stringify(v).slice(0, 50));
    }
  });

  it('does not read huge headers, and never throws on hostile ones', () => {
    assert.equal(readSessionCookie(`tf_session=${V}; ${'a=b; '.repeat(MAX_COOKIE_HEADER)}`).kind, 'bad');
    assert.equal(readSessionCookie('a=b; '.repeat(MAX_COOKIE_HEADER)).kind, 'none');
    const many = Array.from({ length: 1500 }, (_, i) => `c${i}=v`).join('; ');
    assert.deepEqual(readSessionCookie(`${many.slice(0, 7000)}; tf_session=${V}`), { kind: 'ok', value: V });
    for (const h of [';;;;', '====', 'tf_session', 'tf_session=', '\u0000\u0001', '%', 'tf_session=%00']) assert.doesNotThrow(() => readSessionCookie(h));
  });

  it('is set HttpOnly, SameSite=Strict, for the whole site, Secure only when asked', () => {
    assert.equal(sessionSetCookie(V, 86_400, false), `tf_session=${V}; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict`);
    assert.equal(sessionSetCookie(V, 60, true), `tf_session=${V}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure`);
    assert.equal(clearSessionCookie(true), 'tf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure');
    assert.throws(() => sessionSetCookie('a;b', 60, false), /not a session cookie value/);
  });
});
