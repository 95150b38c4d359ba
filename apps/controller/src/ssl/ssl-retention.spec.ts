import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sweepExpired } from './ssl-retention.service';

/** A fake database holding `expired` rows past their expiresAt. */
function fakeDb(expired: number) {
  const statements: string[] = [];
  return {
    statements,
    left: () => expired,
    $executeRaw(q: TemplateStringsArray, ...values: unknown[]): Promise<number> {
      statements.push(q.join('?'));
      const n = Math.min(expired, values[0] as number);
      expired -= n;
      return Promise.resolve(n);
    },
  };
}

describe('sweepExpired', () => {
  it('deletes in bounded batches until nothing expired is left', async () => {
    const db = fakeDb(12_345);
    assert.deepEqual(await sweepExpired(db, 5000, 10), { deleted: 12_345, batches: 3, more: false });
    assert.equal(db.left(), 0);
    assert.match(db.statements[0], /DELETE FROM "SslEvent" WHERE "id" IN \(\s*SELECT "id" FROM "SslEvent" WHERE "expiresAt" <= now\(\)/);
  });

  it('stops after maxBatches and says more is left', async () => {
    const db = fakeDb(100);
    assert.deepEqual(await sweepExpired(db, 10, 3), { deleted: 30, batches: 3, more: true });
    assert.equal(db.left(), 70);
  });

  it('runs one statement when nothing expired', async () => {
    const db = fakeDb(0);
    assert.deepEqual(await sweepExpired(db, 10, 3), { deleted: 0, batches: 1, more: false });
  });
});
