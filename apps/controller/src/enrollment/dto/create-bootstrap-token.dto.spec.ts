import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { CreateBootstrapTokenDto, MAX_TOKEN_TTL_SEC, MAX_TOKEN_USES } from './create-bootstrap-token.dto';

/** The properties the global ValidationPipe would refuse in this body ([] when it passes). */
async function refused(body: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(CreateBootstrapTokenDto, body), { whitelist: true, forbidNonWhitelisted: true });
  return errors.map((e) => e.property).sort();
}

describe('POST /enrollment-tokens body: hostile values', () => {
  it('accepts the defaults and a full, bounded request', async () => {
    assert.deepEqual(await refused({}), []);
    // null is "not given" (@IsOptional): the service then applies its defaults, single use for an hour
    assert.deepEqual(await refused({ maxUses: null, ttlSec: null, nodeName: null }), []);
    assert.deepEqual(await refused({ maxUses: MAX_TOKEN_USES, ttlSec: MAX_TOKEN_TTL_SEC, nodeName: 'web-1.example/a_b', description: 'rack 4' }), []);
  });

  it('refuses uses and lifetimes out of bounds or not whole numbers', async () => {
    for (const maxUses of [0, -1, MAX_TOKEN_USES + 1, 1.5, '3', Number.MAX_SAFE_INTEGER * 2, Infinity, NaN]) {
      assert.deepEqual(await refused({ maxUses }), ['maxUses'], String(maxUses));
    }
    for (const ttlSec of [59, -3600, MAX_TOKEN_TTL_SEC + 1, 1e308, '600', true]) {
      assert.deepEqual(await refused({ ttlSec }), ['ttlSec'], String(ttlSec));
    }
  });

  it('refuses node names a certificate or a log line must not carry', async () => {
    for (const nodeName of ['', 'a\u0000b', '../../etc', '-web', 'web-', 'we b', 'CN=x,O=tracefleet-nodes', 'nöde', 'x'.repeat(64), 'a\nb', ['web-1'], 7]) {
      assert.deepEqual(await refused({ nodeName }), ['nodeName'], JSON.stringify(nodeName));
    }
  });

  it('refuses a description over 200 characters and fields it does not know', async () => {
    assert.deepEqual(await refused({ description: 'x'.repeat(201) }), ['description']);
    assert.deepEqual(await refused({ uses: 5 }), ['uses']);
  });
});
