import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';

/** The response body of the BadRequestException `fn` throws, as JSON text; fails when it throws none. */
export function badRequestMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BadRequestException);
    return JSON.stringify(err.getResponse());
  }
  assert.fail('expected a BadRequestException');
}
