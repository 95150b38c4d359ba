import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EnvError, loadEnv } from './env';
import { GOOD_ENV } from '../testing/env-fixture';

const good = GOOD_ENV;

describe('loadEnv: web console sessions', () => {
  it('defaults to 12 h idle, 24 h at most, Secure by the connection', () => {
    const env = loadEnv(good);
    assert.equal(env.sessionIdleSec, 43_200);
    assert.equal(env.sessionMaxSec, 86_400);
    assert.equal(env.sessionSecureCookie, false);
  });

  it('takes them from the environment, the maximum following a longer idle time', () => {
    assert.equal(loadEnv({ ...good, TRACEFLEET_SESSION_IDLE_SEC: '600', TRACEFLEET_SESSION_MAX_SEC: '3600' }).sessionMaxSec, 3600);
    assert.equal(loadEnv({ ...good, TRACEFLEET_SESSION_IDLE_SEC: String(2 * 86_400) }).sessionMaxSec, 2 * 86_400);
    assert.equal(loadEnv({ ...good, TRACEFLEET_SESSION_SECURE_COOKIE: 'true' }).sessionSecureCookie, true);
    assert.equal(loadEnv({ ...good, TRACEFLEET_SESSION_SECURE_COOKIE: '0' }).sessionSecureCookie, false);
  });

  it('refuses bad values, naming the variable', () => {
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_SESSION_IDLE_SEC: '10' }), /TRACEFLEET_SESSION_IDLE_SEC/);
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_SESSION_IDLE_SEC: '12h' }), EnvError);
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_SESSION_IDLE_SEC: '7200', TRACEFLEET_SESSION_MAX_SEC: '3600' }), /TRACEFLEET_SESSION_MAX_SEC=3600 must be at least TRACEFLEET_SESSION_IDLE_SEC=7200/);
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_SESSION_SECURE_COOKIE: 'yes' }), /TRACEFLEET_SESSION_SECURE_COOKIE="yes"/);
  });
});
