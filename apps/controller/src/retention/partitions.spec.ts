// The partition manager's pure parts, with a fake SQL session: the ranges it reads back from PostgreSQL, the
// names and day literals it builds into DDL, and the pool wrapper's transaction handling.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROFILE_SAMPLES, isoDay, listPartitions, partitionName, poolPartitionDb, type Sql } from './partitions';

const fake = (rows: { name: string; bound: string }[]): Sql => ({ query: async <T>() => rows as unknown as T[] });

describe('partitions', () => {
  it('reads day ranges and the DEFAULT partition, oldest first', async () => {
    const parts = await listPartitions(
      fake([
        { name: 'ProfileSample_default', bound: 'DEFAULT' },
        { name: 'ProfileSample_p20261206', bound: "FOR VALUES FROM ('2026-12-06') TO ('2026-12-07')" },
        { name: 'ProfileSample_p20261205', bound: "FOR VALUES FROM ('2026-12-05') TO ('2026-12-06')" },
      ]),
      PROFILE_SAMPLES,
    );
    assert.deepEqual(parts, [
      { name: 'ProfileSample_p20261205', from: '2026-12-05', to: '2026-12-06' },
      { name: 'ProfileSample_p20261206', from: '2026-12-06', to: '2026-12-07' },
      { name: 'ProfileSample_default' },
    ]);
  });

  it('refuses a range it does not understand rather than guess what to drop', async () => {
    await assert.rejects(
      listPartitions(fake([{ name: 'odd', bound: "FOR VALUES FROM ('2026-12-05 10:00:00') TO (MAXVALUE)" }]), PROFILE_SAMPLES),
      /partition odd of ProfileSample has a range this code does not read/,
    );
  });

  it('names a day by its UTC date', () => {
    assert.equal(isoDay(new Date('2026-12-05T23:59:59.999Z')), '2026-12-05');
    assert.equal(partitionName(PROFILE_SAMPLES, '2026-01-02'), 'ProfileSample_p20260102');
  });

  it('commits a transaction that resolves, rolls back one that throws, and gives the connection back', async () => {
    const said: string[] = [];
    const released: unknown[] = [];
    const pool = {
      connect: async () => ({
        query: async (text: string) => (said.push(text), { rows: [{ ok: 1 }] }),
        release: (err?: Error | boolean) => released.push(err),
      }),
    };
    const db = poolPartitionDb(pool);
    assert.deepEqual(await db.transaction((sql) => sql.query('SELECT 1')), [{ ok: 1 }]);
    await assert.rejects(db.transaction(async () => Promise.reject(new Error('lock timeout'))), /lock timeout/);
    assert.deepEqual(said, ['BEGIN', 'SELECT 1', 'COMMIT', 'BEGIN', 'ROLLBACK']);
    assert.deepEqual(released, [undefined, undefined]);
  });
});
