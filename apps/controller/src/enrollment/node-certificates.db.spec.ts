// Enrollment, renewal, the agent link's certificate check and revocation against a real PostgreSQL
// (127.0.0.1:5432) and a real fleet CA in a temporary directory. Creates a throwaway database, applies
// the committed migrations, drops it.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { createCa, createNodeCsr, nodeIdentity, chainsTo } from '@tracefleet/pki';
import type { ControllerEnv } from '../config/env';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { FleetCaService } from './fleet-ca.service';
import { NodeCertificatesService } from './node-certificates.service';
import { EnrollError, hashToken } from './bootstrap-token';

const DB = 'tracefleet_enroll_test';
const ENV_TOKEN = 'e'.repeat(40);
let db: ScratchDb;
let certs: NodeCertificatesService;
let caPem: string;

async function refused(p: Promise<unknown>, code: status, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EnrollError, `an EnrollError, got ${e}`);
    assert.equal(status[e.code], status[code], e.message);
    assert.match(e.message, re);
    return true;
  });
}

before(async () => {
  db = await scratchDb(DB);
  const dir = mkdtempSync(join(tmpdir(), 'enroll-spec-'));
  const ca = await createCa('spec', 1);
  caPem = ca.certPem;
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  const env = {
    databaseUrl: db.url,
    enrollmentToken: ENV_TOKEN,
    enrollmentTokenUses: 2,
    enrollmentTokenTtlHours: 1,
    nodeCertLifetimeSec: 600,
    pki: { caCertFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca.key'), serverNames: ['127.0.0.1'] },
  } as ControllerEnv;
  const fleetCa = new FleetCaService(env);
  await fleetCa.ready();
  certs = new NodeCertificatesService(env, db.prisma, fleetCa);
  await certs.onApplicationBootstrap();
});

after(async () => {
  await db?.drop();
});

describe('enrollment with bootstrap tokens', () => {
  it('the .env token is a bootstrap token of TRACEFLEET_ENROLLMENT_TOKEN_USES uses, registered once, stored hashed', async () => {
    await certs.onApplicationBootstrap(); // a second boot (or replica) does not renew it
    // replicas booting at once on a fresh database (an upsert failed here on the unique hash)
    await db.prisma.bootstrapToken.deleteMany({ where: { createdBy: 'env' } });
    await Promise.all(Array.from({ length: 6 }, () => certs.onApplicationBootstrap()));
    const rows = await db.prisma.bootstrapToken.findMany({ where: { createdBy: 'env' } });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].tokenHash, hashToken(ENV_TOKEN));
    assert.equal(rows[0].maxUses, 2);
    const all = JSON.stringify(await db.prisma.bootstrapToken.findMany());
    assert.ok(!all.includes(ENV_TOKEN), 'the token itself is never stored');
  });

  it('issues a certificate for the name, chained to the CA, and counts the use; past its uses the token is refused', async () => {
    const a = await createNodeCsr('env-a');
    const issued = await certs.enroll('env-a', a.csrPem, ENV_TOKEN);
    assert.equal(await chainsTo(issued.certPem, caPem), true);
    const id = nodeIdentity(issued.certPem);
    assert.equal(id.nodeName, 'env-a');
    assert.equal(await certs.refusal(id), null);
    await certs.enroll('env-b', (await createNodeCsr('env-b')).csrPem, ENV_TOKEN);
    await refused(certs.enroll('env-c', (await createNodeCsr('env-c')).csrPem, ENV_TOKEN), status.PERMISSION_DENIED, /used up \(2 of 2 uses\)/);
    assert.equal(await db.prisma.nodeCertificate.count({ where: { nodeName: 'env-c' } }), 0);
  });

  it('a single-use token enrolls once, even when two enrollments race', async () => {
    const t = await certs.createToken({ maxUses: 1 }, 'spec');
    const results = await Promise.allSettled(['race-1', 'race-2', 'race-3'].map(async (n) => certs.enroll(n, (await createNodeCsr(n)).csrPem, t.token)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
    const row = await db.prisma.bootstrapToken.findUniqueOrThrow({ where: { id: t.id } });
    assert.equal(row.uses, 1);
  });

  it('refuses an expired token, an unknown one, a malformed one, and a token bound to another name', async () => {
    const t = await certs.createToken({ maxUses: 5, ttlSec: 60 }, 'spec');
    await db.prisma.bootstrapToken.update({ where: { id: t.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await refused(certs.enroll('late', (await createNodeCsr('late')).csrPem, t.token), status.PERMISSION_DENIED, /expired at/);
    await refused(certs.enroll('x1', (await createNodeCsr('x1')).csrPem, 'tfb_' + 'A'.repeat(43)), status.UNAUTHENTICATED, /unknown bootstrap token/);
    for (const bad of ['', 'short', 'has space in it here', 'x'.repeat(300), 'ünïcode-token-long-enough']) {
      await refused(certs.enroll('x1', (await createNodeCsr('x1')).csrPem, bad), status.UNAUTHENTICATED, /missing or malformed/);
    }
    const bound = await certs.createToken({ maxUses: 3, nodeName: 'only-me' }, 'spec');
    await refused(certs.enroll('not-me', (await createNodeCsr('not-me')).csrPem, bound.token), status.PERMISSION_DENIED, /is for node only-me, not not-me/);
    assert.equal((await db.prisma.bootstrapToken.findUniqueOrThrow({ where: { id: bound.id } })).uses, 0, 'a refused enrollment uses nothing');
  });

  it('refuses hostile requests before counting a use', async () => {
    const t = await certs.createToken({ maxUses: 1 }, 'spec');
    await refused(certs.enroll('node-h', 'garbage', t.token), status.INVALID_ARGUMENT, /not one PEM/);
    await refused(certs.enroll('node-h', (await createNodeCsr('other')).csrPem, t.token), status.INVALID_ARGUMENT, /names "other", not node-h/);
    await refused(certs.enroll('bad name', (await createNodeCsr('x')).csrPem, t.token), status.INVALID_ARGUMENT, /not valid/);
    await refused(certs.enroll('x'.repeat(5000), (await createNodeCsr('x')).csrPem, t.token), status.INVALID_ARGUMENT, /not valid/);
    await refused(certs.enroll('node-h', `-----BEGIN CERTIFICATE REQUEST-----\n${'QUFB'.repeat(2000)}\n-----END CERTIFICATE REQUEST-----\n`, t.token), status.INVALID_ARGUMENT, /larger than/);
    assert.equal((await db.prisma.bootstrapToken.findUniqueOrThrow({ where: { id: t.id } })).uses, 0);
    await certs.enroll('node-h', (await createNodeCsr('node-h')).csrPem, t.token);
  });

  it('an unbound token cannot take over a name that holds a live certificate; a token bound to that name can', async () => {
    const t = await certs.createToken({ maxUses: 5 }, 'spec');
    await certs.enroll('held', (await createNodeCsr('held')).csrPem, t.token);
    await refused(certs.enroll('held', (await createNodeCsr('held')).csrPem, t.token), status.ALREADY_EXISTS, /already holds a certificate valid until .*\(DELETE \/api\/v1\/nodes\/held/);
    const bound = await certs.createToken({ nodeName: 'held' }, 'spec');
    const again = await certs.enroll('held', (await createNodeCsr('held')).csrPem, bound.token);
    assert.equal(nodeIdentity(again.certPem).nodeName, 'held');
  });
});

describe('renewal and revocation', () => {
  it('renews for the name in the presented certificate; a revoked certificate is refused everywhere', async () => {
    const t = await certs.createToken({ maxUses: 1 }, 'spec');
    const first = nodeIdentity((await certs.enroll('renewer', (await createNodeCsr('renewer')).csrPem, t.token)).certPem);
    await refused(certs.renew(first, (await createNodeCsr('someone-else')).csrPem), status.INVALID_ARGUMENT, /names "someone-else", not renewer/);
    const second = nodeIdentity((await certs.renew(first, (await createNodeCsr('renewer')).csrPem)).certPem);
    assert.equal(second.nodeName, 'renewer');
    assert.notEqual(second.serial, first.serial);
    const row = await db.prisma.nodeCertificate.findUniqueOrThrow({ where: { serial: second.serial } });
    assert.equal(row.via, 'renew');
    assert.equal(row.renewedFrom, first.serial);

    assert.equal(await certs.revoke('renewer'), 2);
    assert.match((await certs.refusal(first)) ?? '', /revoked at/);
    assert.match((await certs.refusal(second)) ?? '', /revoked at/);
    await refused(certs.renew(second, (await createNodeCsr('renewer')).csrPem), status.PERMISSION_DENIED, /revoked/);
    assert.equal(await certs.revoke('renewer'), 0, 'nothing left to revoke');
  });

  it('refuses a certificate this fleet did not issue under that name, and an expired one', async () => {
    const t = await certs.createToken({ maxUses: 1 }, 'spec');
    const id = nodeIdentity((await certs.enroll('expiring', (await createNodeCsr('expiring')).csrPem, t.token)).certPem);
    assert.match((await certs.refusal({ ...id, serial: '7f' })) ?? '', /was not issued to node expiring/);
    assert.match((await certs.refusal({ ...id, nodeName: 'someone-else' })) ?? '', /was not issued to node someone-else/);
    await db.prisma.nodeCertificate.update({ where: { serial: id.serial }, data: { notAfter: new Date(Date.now() - 1) } });
    assert.match((await certs.refusal(id)) ?? '', /expired at/);
  });

  it('after a CA change, certificates of the old CA neither pass nor hold their names', async () => {
    const t = await certs.createToken({ maxUses: 2 }, 'spec');
    const id = nodeIdentity((await certs.enroll('moved', (await createNodeCsr('moved')).csrPem, t.token)).certPem);
    await db.prisma.nodeCertificate.update({ where: { serial: id.serial }, data: { caFingerprint: 'f'.repeat(64) } });
    assert.match((await certs.refusal(id)) ?? '', /by this fleet's CA/);
    const again = nodeIdentity((await certs.enroll('moved', (await createNodeCsr('moved')).csrPem, t.token)).certPem);
    assert.equal(await certs.refusal(again), null);
  });
});
