import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { ListJobsQueryDto } from './list-jobs.dto';

/** As main.ts's ValidationPipe sees a query (every value a string): the messages, or [] when it passes. */
async function check(query: Record<string, unknown>): Promise<{ messages: string[]; dto: ListJobsQueryDto }> {
  const dto = plainToInstance(ListJobsQueryDto, query);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
  return { messages: errors.flatMap((e) => Object.values(e.constraints ?? {})), dto };
}

const ID = '3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c';

describe('ListJobsQueryDto', () => {
  it('takes every filter and turns limit and the times into their types', async () => {
    const { messages, dto } = await check({
      status: 'partial',
      type: 'ssl-capture',
      node: 'web-1.zone/a',
      incident: ID,
      schedule: ID,
      createdAfter: '2026-01-02',
      createdBefore: '2026-01-02T03:04:05.678+02:00',
      limit: '100',
      before: ID,
    });
    assert.deepEqual(messages, []);
    assert.equal(dto.limit, 100);
    assert.equal(dto.createdAfter?.toISOString(), '2026-01-02T00:00:00.000Z');
    assert.equal(dto.createdBefore?.toISOString(), '2026-01-02T01:04:05.678Z');
    assert.deepEqual((await check({})).messages, []);
  });

  it('refuses hostile values, naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ status: 'done' }, /^status must be one of: queued, running, completed, partial, failed, stopped$/],
      [{ status: ['completed', 'failed'] }, /^status must be one of/],
      [{ status: '' }, /^status must be one of/],
      [{ type: 'x' }, /^type must be one of: cpu-profile, usdt, memleak, ssl-capture, syscount, runqlat, biolatency, tcp, off-cpu, oomkill, exec-open$/],
      [{ type: 'cpu_profile' }, /^type must be one of/],
      [{ limit: '0' }, /^limit must not be less than 1$/],
      [{ limit: '101' }, /^limit must not be greater than 100$/],
      [{ limit: '5x' }, /^limit must be an integer number$/],
      [{ limit: '1.5' }, /^limit must be an integer number$/],
      [{ createdAfter: 'yesterday' }, /^createdAfter must be an ISO 8601 date or date-time with its zone/],
      [{ createdAfter: '2026-02-30' }, /^createdAfter must be an ISO 8601/],
      [{ createdBefore: '2026-01-02T03:04:05' }, /^createdBefore must be an ISO 8601/],
      [{ createdBefore: '1767225600000' }, /^createdBefore must be an ISO 8601/],
      [{ incident: 'not-a-uuid' }, /^incident must be an incident id \(UUID\)$/],
      [{ schedule: `${ID}'; --` }, /^schedule must be a schedule id \(UUID\)$/],
      [{ node: '../etc' }, /^node must be a node name/],
      [{ node: 'n'.repeat(64) }, /^node must be a node name/],
      [{ before: 'MjAyNg==' }, /^before must be the nextCursor of a previous page \(a job id\)$/],
      [{ bogus: '1' }, /^property bogus should not exist$/],
      [{ params: 'redactPatterns' }, /^property params should not exist$/],
    ];
    for (const [query, re] of cases) {
      const { messages } = await check(query);
      const field = Object.keys(query)[0];
      const where = `${JSON.stringify(query)} → ${JSON.stringify(messages)}`;
      // NaN breaks every number rule at once; each message still names the field.
      assert.ok(messages.length > 0 && messages.every((m) => m.startsWith(`${field} `) || m === `property ${field} should not exist`), where);
      assert.ok(messages.some((m) => re.test(m)), where);
    }
  });
});
