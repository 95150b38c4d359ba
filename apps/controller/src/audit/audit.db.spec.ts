// The audit log against a real PostgreSQL: filters, newest first, keyset pages, retention.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import type { ControllerEnv } from '../config/env';
import { identify } from '../auth/scopes';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { parseAuditQuery } from './audit-query';
import { AuditService, type AuditRecord } from './audit.service';
import { sweepOldAudit } from './audit-retention';

Logger.overrideLogger(false);
const env = { apiToken: 'a1'.repeat(20), captureToken: 'c3'.repeat(20), enrollmentToken: 'e5'.repeat(20) } as ControllerEnv;
let db: ScratchDb;
let audit: AuditService;

const rec = (action: string, targetId: string, token = env.captureToken, status = 200): AuditRecord => ({
  token: identify(token, env)!,
  action,
  targetType: action.split('.')[0],
  targetId,
  outcome: status < 400 ? 'ok' : status === 403 ? 'denied' : 'refused',
  status,
  reason: null,
  method: 'POST',
  path: '/api/v1/x',
  requestId: '00000000-0000-4000-8000-000000000000',
  remoteAddr: '127.0.0.1',
});

describe('audit log (PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    db = await scratchDb('tracefleet_audit_test');
    audit = new AuditService(env, db.prisma);
    await audit.record(rec('schedule.create', 's1'));
    await audit.record(rec('schedule.delete', 's1', env.apiToken, 403));
    await audit.record(rec('schedule.delete', 's1'));
    await audit.record(rec('job.create', 'j1'));
  });

  after(async () => {
    await db?.drop();
  });

  it('lists newest first with filters on action (exact or prefix), target, outcome and token', async () => {
    const all = await audit.list(parseAuditQuery({}));
    assert.deepEqual(all.entries.map((e) => e.action), ['job.create', 'schedule.delete', 'schedule.delete', 'schedule.create']);
    assert.equal(all.nextCursor, null);
    assert.equal((await audit.list(parseAuditQuery({ action: 'schedule.' }))).entries.length, 3);
    const del = await audit.list(parseAuditQuery({ action: 'schedule.delete', target: 'schedule:s1' }));
    assert.deepEqual(del.entries.map((e) => [e.outcome, e.token.name]), [['ok', 'capture'], ['denied', 'api']]);
    assert.equal((await audit.list(parseAuditQuery({ outcome: 'denied' }))).entries.length, 1);
    assert.equal((await audit.list(parseAuditQuery({ token: identify(env.apiToken, env)!.fingerprint }))).entries.length, 1);
    assert.equal((await audit.list(parseAuditQuery({ target: 'job' }))).entries[0].target.id, 'j1');
    assert.equal((await audit.list(parseAuditQuery({ since: new Date(Date.now() + 60_000).toISOString() }))).entries.length, 0);
    assert.ok(!JSON.stringify(all).includes(env.apiToken) && !JSON.stringify(all).includes(env.captureToken));
  });

  it('pages with limit and before=nextCursor', async () => {
    const p1 = await audit.list(parseAuditQuery({ limit: '3' }));
    assert.equal(p1.entries.length, 3);
    assert.ok(p1.nextCursor);
    const p2 = await audit.list(parseAuditQuery({ limit: '3', before: p1.nextCursor! }));
    assert.deepEqual(p2.entries.map((e) => e.action), ['schedule.create']);
    assert.equal(p2.nextCursor, null);
  });

  it('orders by time even when ids were taken in the other order (concurrent requests), and pages across such a pair', async () => {
    const t = Date.now() + 3_600_000;
    // The later id has the earlier time: as when two transactions start in one order and insert in the other.
    await db.prisma.auditEntry.create({ data: { ...flat(rec('job.create', 'later')), at: new Date(t + 2) } });
    await db.prisma.auditEntry.create({ data: { ...flat(rec('job.create', 'earlier')), at: new Date(t + 1) } });
    const p1 = await audit.list(parseAuditQuery({ limit: '1', target: 'job' }));
    assert.equal(p1.entries[0].target.id, 'later');
    const p2 = await audit.list(parseAuditQuery({ limit: '1', target: 'job', before: p1.nextCursor! }));
    assert.equal(p2.entries[0].target.id, 'earlier', 'the page after "later" holds "earlier" although its id is larger');
    await db.prisma.auditEntry.deleteMany({ where: { targetId: { in: ['later', 'earlier'] } } });
  });

  it('deletes entries older than the cutoff, in batches, and keeps newer ones', async () => {
    await db.prisma.auditEntry.updateMany({ where: { action: 'schedule.create' }, data: { at: new Date(Date.now() - 400 * 86_400_000) } });
    await db.prisma.auditEntry.createMany({ data: Array.from({ length: 5 }, () => ({ ...flat(rec('job.create', 'old')), at: new Date(Date.now() - 400 * 86_400_000) })) });
    const r = await sweepOldAudit(db.prisma, new Date(Date.now() - 365 * 86_400_000), 2, 10);
    assert.deepEqual(r, { deleted: 6, more: false });
    assert.deepEqual((await audit.list(parseAuditQuery({}))).entries.map((e) => e.action), ['job.create', 'schedule.delete', 'schedule.delete']);
  });
});

function flat(r: AuditRecord) {
  const { token, ...rest } = r;
  return { ...rest, tokenName: token.name, tokenScopes: token.scopes, tokenFingerprint: token.fingerprint };
}
