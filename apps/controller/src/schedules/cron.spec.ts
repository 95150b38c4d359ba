import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { checkCron, nextFires } from './cron';

function message(raw: unknown): string {
  try {
    checkCron(raw);
  } catch (err) {
    assert.ok(err instanceof BadRequestException);
    return (err.getResponse() as { message: string[] }).message.join('; ');
  }
  assert.fail(`${JSON.stringify(raw)} was accepted`);
}

describe('checkCron', () => {
  it('accepts 5 fields, and 6 with seconds first; normalizes spacing', () => {
    assert.equal(checkCron('*/5 * * * *'), '*/5 * * * *');
    assert.equal(checkCron('  0  3 * * 1-5 '), '0 3 * * 1-5');
    assert.equal(checkCron('*/20 * * * * *'), '*/20 * * * * *');
    assert.equal(checkCron('0 0 12 1 1 *'), '0 0 12 1 1 *');
  });
  it('refuses malformed patterns, naming cron', () => {
    for (const [raw, re] of [
      ['* * * *', /^cron must have 5 fields .* has 4$/],
      ['0 0 0 * * * *', /^cron must have 5 fields .* has 7$/],
      ['', /^cron must have 5 fields/],
      [42, /^cron must be a string$/],
      ['61 * * * *', /^cron is not a valid cron expression: .*61/],
      ['bad cron x y z', /^cron is not a valid cron expression/],
      ['0 0 31 2 *', /^cron is not a valid cron expression/],
      ['@daily', /^cron must have 5 fields/],
    ] as [unknown, RegExp][]) {
      assert.match(message(raw), re, String(raw));
    }
  });
  it('refuses patterns that fire more often than every 5 s', () => {
    assert.match(message('* * * * * *'), /^cron "\* \* \* \* \* \*" fires 1000 ms apart .* minimum is 5000 ms$/);
    assert.match(message('0,2 * * * * *'), /fires 2000 ms apart/);
    assert.equal(checkCron('*/5 * * * * *'), '*/5 * * * * *');
  });
  it('lists the next fire times in UTC', () => {
    const now = Date.parse('2026-03-01T10:07:30.000Z');
    assert.deepEqual(nextFires({ cron: '*/15 * * * *' }, 2, now).map((d) => d.toISOString()), ['2026-03-01T10:15:00.000Z', '2026-03-01T10:30:00.000Z']);
    assert.deepEqual(nextFires({ everyMs: 6000 }, 2, now).map((d) => d.toISOString()), ['2026-03-01T10:07:36.000Z', '2026-03-01T10:07:42.000Z']);
  });
});
