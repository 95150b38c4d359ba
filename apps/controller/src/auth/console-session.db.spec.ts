// Console sessions against a real PostgreSQL: what a row holds, expiry, sign-out, rotation and the sweep.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import type { ControllerEnv } from '../config/env';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ConsoleSessionService, TOUCH_EVERY_MS, sessionIdOf, sweepEndedSessions } from './console-session.service';
import { fingerprint } from './tokens';

Logger.overrideLogger(false);
const env = { apiToken: 'a1'.repeat(20), captureToken: 'c3'.repeat(20), enrollmentToken: 'e5'.repeat(20), sessionIdleSec: 3600, sessionMaxSec: 4 * 3600, retentionSweepSec: 300 } as ControllerEnv;
let db: ScratchDb;
let sessions: ConsoleSessionService;

describe('console sessions (PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    db = await scratchDb('tracefleet_session_test');
    sessions = new ConsoleSessionService(env, db.prisma);
  });

  after(async () => {
    await db?.drop();
  });

  it('stores the SHA-256 of the cookie, the token name and fingerprint, never the cookie or the token', async () => {
    const now = new Date();
    const { cookie, session } = await sessions.signIn(env.captureToken, '127.0.0.1', now);
    const rows = await db.prisma.$queryRaw<Record<string, unknown>[]>`SELECT * FROM "ConsoleSession"`;
    assert.equal(rows.length, 1);
    const row = rows[0];
    assert.equal(row.id, sessionIdOf(cookie));
    assert.equal(row.tokenName, 'capture');
    assert.equal(row.tokenFingerprint, fingerprint(env.captureToken));
    assert.equal((row.expiresAt as Date).getTime(), now.getTime() + 3600_000);
    assert.equal((row.absoluteExpiresAt as Date).getTime(), now.getTime() + 4 * 3600_000);
    const text = JSON.stringify(rows);
    assert.ok(!text.includes(cookie) && !text.includes(env.captureToken) && !text.includes(session.csrfToken));
  });

  it('finds a live session, moves its idle expiry on at most once a minute, never past the absolute one', async () => {
    const t0 = new Date(Date.now() - 3 * 3600_000);
    const { cookie } = await sessions.signIn(env.apiToken, '127.0.0.1', t0);
    const id = sessionIdOf(cookie);
    assert.equal((await sessions.lookup(cookie, new Date(t0.getTime() + 30_000)))?.identity.name, 'api');
    let row = await db.prisma.consoleSession.findUniqueOrThrow({ where: { id } });
    assert.equal(row.lastSeenAt.getTime(), t0.getTime(), 'not written within a minute');
    const t1 = new Date(t0.getTime() + TOUCH_EVERY_MS + 1000);
    const s = await sessions.lookup(cookie, t1);
    row = await db.prisma.consoleSession.findUniqueOrThrow({ where: { id } });
    assert.equal(row.lastSeenAt.getTime(), t1.getTime());
    assert.equal(row.expiresAt.getTime(), t1.getTime() + 3600_000);
    assert.equal(s?.expiresAt.getTime(), row.expiresAt.getTime());
    const t2 = new Date(t0.getTime() + 3.5 * 3600_000);
    await sessions.lookup(cookie, new Date(t0.getTime() + 3600_000 + 30_000));
    await sessions.lookup(cookie, new Date(t0.getTime() + 2 * 3600_000));
    await sessions.lookup(cookie, new Date(t0.getTime() + 2.8 * 3600_000));
    await sessions.lookup(cookie, t2);
    row = await db.prisma.consoleSession.findUniqueOrThrow({ where: { id } });
    assert.equal(row.expiresAt.getTime(), row.absoluteExpiresAt.getTime(), 'capped at sign-in + TRACEFLEET_SESSION_MAX_SEC');
    assert.equal(await sessions.lookup(cookie, new Date(t0.getTime() + 4 * 3600_000)), undefined, 'past it');
  });

  it('refuses an idle session, an ended one (on every replica: only the row says so) and one whose token was rotated', async () => {
    const t0 = new Date();
    const idle = (await sessions.signIn(env.apiToken, '127.0.0.1', t0)).cookie;
    assert.equal(await sessions.lookup(idle, new Date(t0.getTime() + 3600_000)), undefined);

    const ended = (await sessions.signIn(env.apiToken, '127.0.0.1')).cookie;
    const otherReplica = new ConsoleSessionService(env, db.prisma);
    assert.ok(await otherReplica.lookup(ended));
    assert.equal(await sessions.end(sessionIdOf(ended)), true);
    assert.equal(await sessions.end(sessionIdOf(ended)), false, 'once');
    assert.equal(await otherReplica.lookup(ended), undefined);

    const live = (await sessions.signIn(env.captureToken, '127.0.0.1')).cookie;
    const rotated = new ConsoleSessionService({ ...env, captureToken: 'c9'.repeat(20) } as ControllerEnv, db.prisma);
    assert.equal(await rotated.lookup(live), undefined);
    const row = await db.prisma.consoleSession.findUniqueOrThrow({ where: { id: sessionIdOf(live) } });
    assert.notEqual(row.endedAt, null, 'ended');
    assert.equal(await sessions.lookup(live), undefined);
    // The api token was not rotated: its sessions go on.
    const api = (await sessions.signIn(env.apiToken, '127.0.0.1')).cookie;
    assert.ok(await new ConsoleSessionService({ ...env, captureToken: 'c9'.repeat(20) } as ControllerEnv, db.prisma).lookup(api));
  });

  it('sweeps expired and ended sessions in batches, keeping live ones', async () => {
    await db.prisma.consoleSession.deleteMany({});
    const now = new Date();
    const live = [];
    for (let i = 0; i < 3; i++) live.push((await sessions.signIn(env.apiToken, '127.0.0.1', now)).cookie);
    for (let i = 0; i < 5; i++) await sessions.signIn(env.apiToken, '127.0.0.1', new Date(now.getTime() - 2 * 3600_000));
    await sessions.end(sessionIdOf(live[2]));
    const r = await sweepEndedSessions(db.prisma, new Date(now.getTime() + 1000), 2, 2);
    assert.deepEqual(r, { deleted: 4, more: true });
    assert.deepEqual(await sessions.sweep(new Date(now.getTime() + 1000)), { deleted: 2, more: false });
    const left = await db.prisma.consoleSession.findMany({ select: { id: true } });
    assert.deepEqual(left.map((r) => r.id).sort(), [sessionIdOf(live[0]), sessionIdOf(live[1])].sort());
  });
});
