import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import type { CreateJobDto } from './dto/create-job.dto';
import { typeParams } from './job-spec';
import type { SslParams } from '../common/job-params';

const ssl = (redactPatterns: string[]): CreateJobDto =>
  ({ type: 'ssl-capture', durationSec: 5, target: { all: true }, nodes: 'all', redactPatterns }) as CreateJobDto;

/** The 400's messages for a job with these patterns (fails when the job is accepted). */
function messages(patterns: string[]): string[] {
  try {
    typeParams(ssl(patterns));
  } catch (err) {
    assert.ok(err instanceof BadRequestException, String(err));
    return (err.getResponse() as { message: string[] }).message;
  }
  assert.fail(`${JSON.stringify(patterns)} were accepted`);
}

describe('redactPatterns on the controller: a 400 naming the pattern (the engine\'s own cases are in @tracefleet/redact)', () => {
  it('answers 400 naming the pattern (index and text) and the reason', () => {
    assert.deepEqual(messages(['sk_live_\\w+', '(a)\\1']), ['redactPatterns[1] "(a)\\1" is refused: backreferences are not supported (RE2 syntax)']);
    assert.deepEqual(messages(['(?=x)secret']), ['redactPatterns[0] "(?=x)secret" is refused: lookahead is not supported (RE2 syntax)']);
    assert.deepEqual(messages(['ok', 'ok', '(?<=key=)\\w+']), ['redactPatterns[2] "(?<=key=)\\w+" is refused: lookbehind is not supported (RE2 syntax)']);
    assert.deepEqual(messages(['(?<!x)y']), ['redactPatterns[0] "(?<!x)y" is refused: lookbehind is not supported (RE2 syntax)']);
    assert.deepEqual(messages(['(x']), ['redactPatterns[0] "(x" is refused: missing closing ): `(x` (RE2 syntax)']);
    assert.deepEqual(messages(['']), ['redactPatterns[0] "" is refused: empty pattern']);
    assert.deepEqual(messages(['x*']), ['redactPatterns[0] "x*" is refused: must not match the empty string (it would redact nothing)']);
    const big = Array.from({ length: 5 }, (_, i) => `k${i}=[a-z]{400}`);
    assert.match(messages(big)[0], /^redactPatterns compile to \d+ RE2 instructions in all \(at most 2000: /);
    assert.equal((typeParams(ssl(big.slice(0, 4))) as SslParams).redactPatterns.length, 4);
  });

  it('accepts the catastrophic pattern (RE2 runs it in linear time), the documented and tested patterns, unicode', () => {
    const ok = ['"token":\\s*"(\\w+\\s?)+"', 'sk_live_[A-Za-z0-9]+', 'token=\\w+', '\\b\\d{16}\\b', '(?i)bearer \\S+', '(?P<k>k)=\\d+', '(?<k>k)=\\d+', 'contraseña=[^&]+', '\\p{Greek}+', '\\x{1F511}\\w+'];
    const p = typeParams(ssl(ok)) as SslParams;
    assert.deepEqual(p.redactPatterns, ok);
  });
});
