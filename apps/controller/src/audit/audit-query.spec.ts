import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, outcomeOf, parseAuditQuery } from './audit-query';

const refused = (q: Record<string, unknown>, name: RegExp): void => {
  assert.throws(
    () => parseAuditQuery(q),
    (e: unknown) => e instanceof BadRequestException && name.test(JSON.stringify(e.getResponse())),
    JSON.stringify(q).slice(0, 80),
  );
};

describe('GET /audit parameters', () => {
  it('reads filters and pages', () => {
    assert.deepEqual(parseAuditQuery({}), { limit: AUDIT_DEFAULT_LIMIT });
    const q = parseAuditQuery({ since: '2026-12-03T20:00:00Z', action: 'schedule.', target: 'schedule:3f1c0b1e-0000-4000-8000-000000000000', outcome: 'denied', token: '0123456789abcdef', limit: '500', before: '1796327860041-42' });
    assert.equal(q.since?.toISOString(), '2026-12-03T20:00:00.000Z');
    assert.deepEqual(q.action, { prefix: 'schedule.' });
    assert.deepEqual(q.target, { type: 'schedule', id: '3f1c0b1e-0000-4000-8000-000000000000' });
    assert.equal(q.limit, AUDIT_MAX_LIMIT);
    assert.deepEqual(q.before, { at: new Date(1796327860041), id: 42n });
    assert.deepEqual(parseAuditQuery({ action: 'schedule.delete', target: 'job' }).action, { exact: 'schedule.delete' });
  });

  it('refuses huge, negative, fractional and non-decimal page sizes and cursors', () => {
    for (const limit of ['0', '501', '1e3', '-1', '1.5', '0x10', '99999999999999999999', 'Infinity', '', ' 5']) refused({ limit }, /limit must be an integer in \[1, 500\]/);
    for (const before of ['-1', '42', '1e9-1', '1-9223372036854775808', '9999999999999999-1', '1-99999999999999999999', '1-2-3', 'abc', '']) refused({ before }, /before must be the nextCursor/);
  });

  it('refuses parameters given twice or as objects (qs arrays), and any unknown one — no scope through the query', () => {
    refused({ limit: ['1', '500'] }, /limit must be given once/);
    refused({ action: { $ne: 'x' } }, /action must be given once/);
    refused({ scope: 'ssl-capture' }, /unknown parameter scope/);
    refused({ tracefleetScopes: 'ssl-capture' }, /unknown parameter tracefleetScopes/);
  });

  it('refuses malformed times, actions, targets, outcomes and fingerprints, and a token given where a fingerprint goes', () => {
    for (const since of ['yesterday', '2026-13-45', '1e12', "2026-12-03' OR 1=1", '2026-12-03T20:00:00']) refused({ since }, /since must be an ISO 8601/);
    for (const action of ["schedule.delete'; DROP TABLE \"AuditEntry\";--", 'SCHEDULE', '.x', 'a'.repeat(200), '%']) refused({ action }, /action must be/);
    for (const target of ['schedule:', 'schedule:a b', ':id', `schedule:${'x'.repeat(129)}`, 'Schedule']) refused({ target }, /target must be/);
    refused({ outcome: 'OK' }, /outcome must be one of ok, denied, refused, error/);
    refused({ token: 'a1'.repeat(20) }, /token must be a token fingerprint/);
    refused({ token: '0123456789ABCDEF' }, /token must be a token fingerprint/);
  });

  it('maps statuses to outcomes', () => {
    assert.deepEqual([200, 201, 204, 400, 401, 403, 404, 429, 500, 503].map(outcomeOf), ['ok', 'ok', 'ok', 'refused', 'denied', 'denied', 'refused', 'refused', 'error', 'error']);
  });
});
