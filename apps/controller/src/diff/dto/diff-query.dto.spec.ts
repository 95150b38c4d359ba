import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { DiffQueryDto } from './diff-query.dto';

/** What the global ValidationPipe would answer for a query string: the messages, or []. */
async function messages(query: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(DiffQueryDto, query), { whitelist: true, forbidNonWhitelisted: true });
  return errors.flatMap((e) => Object.values(e.constraints ?? {}));
}

const A = '3f1c2a9e-7b4d-4c1e-9a2b-1d2e3f4a5b6c';
const B = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';

describe('DiffQueryDto', () => {
  it('accepts two job ids and optional nodes', async () => {
    assert.deepEqual(await messages({ base: A, target: B }), []);
    assert.deepEqual(await messages({ base: A, target: A, baseNode: 'node-a', targetNode: 'node-b' }), []);
  });

  it('names a missing or malformed parameter', async () => {
    assert.deepEqual(await messages({ target: B }), ['base must be a job id (UUID)']);
    assert.deepEqual(await messages({ base: A, target: 'latest' }), ['target must be a job id (UUID)']);
    assert.deepEqual(await messages({ base: [A, B], target: B }), ['base must be a job id (UUID)']);
    assert.deepEqual(await messages({ base: A, target: B, baseNode: '' }), ['baseNode should not be empty']);
    assert.deepEqual(await messages({ base: A, target: B, node: 'x' }), ['property node should not exist']);
  });
});
