import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import type { CreateJobDto } from './dto/create-job.dto';
import { typeParams, type SslParams } from './job-spec';
import { compilePattern, MAX_PROGRAM_SIZE, PatternError } from './redact-pattern';

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

describe('redactPatterns on the controller: RE2 syntax, checked with the agent\'s engine', () => {
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

  it('refuses every construct a backtracking engine needs, and RE2 syntax errors', () => {
    const cases: [string, RegExp][] = [
      ['(?<n>a)\\k<n>', /^backreferences/],
      ['a(?!x)', /^lookahead/],
      ['(?>a+)b', /^atomic groups/],
      ['a++b', /^possessive quantifiers/],
      ['[a-', /missing closing \]/],
      ['a{1001}', /invalid repeat count/],
      ['\\p{NoSuchClass}', /invalid character class range/],
      ['\\u00e9', /invalid escape sequence/],
      ['.{1000}', new RegExp(`RE2 instructions \\(at most ${MAX_PROGRAM_SIZE}\\)`)],
    ];
    for (const [p, reason] of cases) assert.throws(() => compilePattern(p), (e: unknown) => e instanceof PatternError && reason.test(e.message), p);
    for (const p of ['^', '$', '\\b', '(?m)^', 'a|', 'a|\\b', '\\z']) assert.throws(() => compilePattern(p), /must not match the empty string/, p);
  });

  it('accepts the catastrophic pattern (RE2 runs it in linear time), the documented and tested patterns, unicode', () => {
    const ok = ['"token":\\s*"(\\w+\\s?)+"', 'sk_live_[A-Za-z0-9]+', 'token=\\w+', '\\b\\d{16}\\b', '(?i)bearer \\S+', '(?P<k>k)=\\d+', '(?<k>k)=\\d+', 'contraseña=[^&]+', '\\p{Greek}+', '\\x{1F511}\\w+'];
    const p = typeParams(ssl(ok)) as SslParams;
    assert.deepEqual(p.redactPatterns, ok);
  });

  it('accepts the catastrophic pattern: with this engine it runs over 34 adversarial characters and 1 MiB of them without backtracking', (t) => {
    const re = compilePattern('"token":\\s*"(\\w+\\s?)+"');
    for (const input of [`"token":"${'a'.repeat(25)}`, `"token":"${'a'.repeat((1 << 20) - 9)}`]) {
      const t0 = process.hrtime.bigint();
      const found = re.test(input);
      const m = re.matcher(input);
      const any = m.find();
      t.diagnostic(`${input.length} characters: ${Number(process.hrtime.bigint() - t0) / 1e6} ms`);
      assert.equal(found, false);
      assert.equal(any, false);
    }
    assert.equal(re.test(`"token":"${'a'.repeat(1 << 20)}"`), true);
  });

  it('accepts a pattern of 41 quantified groups in a row (exponential for a backtracker) and compiles it once per check', (t) => {
    const hostile = `(${'(a|b)+'.repeat(41)})`;
    assert.ok(hostile.length <= 256, 'within the DTO limit');
    const t0 = process.hrtime.bigint();
    const re = compilePattern(hostile);
    t.diagnostic(`compiled ${hostile.length} characters to ${re.programSize()} instructions in ${Number(process.hrtime.bigint() - t0) / 1e6} ms`);
    assert.ok(re.programSize() <= MAX_PROGRAM_SIZE);
    // and it runs over an adversarial input of 1 MiB without backtracking
    assert.equal(re.test('ab'.repeat(1 << 19) + 'c'), true);
  });
});
