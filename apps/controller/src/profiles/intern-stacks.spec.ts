import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { arrayLiteral, ProfilesService, type Tx } from './profiles.service';

/** A stand-in for the database under internStacks: ids handed out per key, every insert recorded. */
function fakeDb() {
  const ids = new Map<string, number>();
  const inserted: unknown[][] = [];
  const db = {
    inserted,
    $executeRaw: async (_sql: TemplateStringsArray, ...values: unknown[]) => {
      inserted.push(values[1] as unknown[]);
      return 0;
    },
    $queryRaw: async (_sql: TemplateStringsArray, keys: string[]) =>
      keys.map((key) => {
        if (!ids.has(key)) ids.set(key, ids.size + 1);
        return { id: ids.get(key)!, key };
      }),
  };
  return db;
}

describe('internStacks', () => {
  it('gives equal paths one id and different paths different ids; only used names are stored', async () => {
    const db = fakeDb();
    const svc = new ProfilesService(db as never);
    const strings = ['main', 'unused', 'work', 'io_[k]'];
    const ids = await svc.internStacks(db as unknown as Tx, strings, [[0, 2], [0, 2, 3], [0, 2], []]);
    assert.equal(ids[0], ids[2]);
    assert.notEqual(ids[0], ids[1]);
    assert.equal(new Set(ids).size, 3);
    assert.deepEqual([...db.inserted[0]].sort(), ['io_[k]', 'main', 'work'], 'frame names stored: the used ones only');
    // The same paths in another batch, with the strings in another order, are the same stacks.
    const again = await svc.internStacks(db as unknown as Tx, ['work', 'io_[k]', 'main'], [[2, 0], [2, 0, 1]]);
    assert.deepEqual(again, [ids[0], ids[1]]);
  });

  it('cuts a frame name past 4096 characters', async () => {
    const db = fakeDb();
    const svc = new ProfilesService(db as never);
    await svc.internStacks(db as unknown as Tx, ['x'.repeat(10_000)], [[0]]);
    assert.equal((db.inserted[0][0] as string).length, 4096 + 3);
  });

  it('refuses a path naming a string the batch does not have', async () => {
    const db = fakeDb();
    const svc = new ProfilesService(db as never);
    for (const bad of [3, -1, Number.NaN, 1.5, 2 ** 32, Number.POSITIVE_INFINITY]) {
      await assert.rejects(svc.internStacks(db as unknown as Tx, ['a', 'b', 'c'], [[0], [1, bad]]), /a stack names string .* of 3/, String(bad));
    }
    assert.equal(db.inserted.length, 0, 'nothing stored for a refused batch');
  });
});

describe('arrayLiteral', () => {
  it('writes integers and bigints as a PostgreSQL array literal', () => {
    assert.equal(arrayLiteral([]), '{}');
    assert.equal(arrayLiteral([1, -2, 0]), '{1,-2,0}');
    assert.equal(arrayLiteral([18446744073709551615n, 0n]), '{18446744073709551615,0}');
  });

  it('refuses what is not a safe integer rather than write a literal PostgreSQL would misread', () => {
    for (const bad of [Number.NaN, 1.5, 2 ** 53, Number.NEGATIVE_INFINITY]) assert.throws(() => arrayLiteral([1, bad]), /not an integer/, String(bad));
  });
});
