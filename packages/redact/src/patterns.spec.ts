import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RE2JS } from 're2js';
import { applyPatterns, compilePattern, MARKER, MAX_PROGRAM_SIZE, PatternError } from './index';

const CATASTROPHIC = '"token":\\s*"(\\w+\\s?)+"';
/** 34 characters that make a backtracking engine try 2^24 ways of splitting the word before failing. */
const ADVERSARIAL_34 = `"token":"${'a'.repeat(25)}`;

function apply(input: Buffer | string, patterns: string[]): { text: string; bytes: Buffer; count: number } {
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const out = applyPatterns(data, patterns.map(compilePattern));
  return { text: out.data.toString('utf8'), bytes: out.data, count: out.count };
}

function refused(pattern: string): string {
  try {
    compilePattern(pattern);
  } catch (err) {
    assert.ok(err instanceof PatternError, `${pattern}: ${String(err)}`);
    return err.message;
  }
  assert.fail(`${JSON.stringify(pattern)} was accepted`);
}

describe('compilePattern: what RE2 syntax refuses, with the reason', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /^backreferences are not supported \(RE2 syntax\)$/],
    ['(?<n>a)\\k<n>', /^backreferences are not supported \(RE2 syntax\)$/],
    ['(?=x)', /^lookahead is not supported \(RE2 syntax\)$/],
    ['a(?!x)', /^lookahead is not supported \(RE2 syntax\)$/],
    ['(?<=x)a', /^lookbehind is not supported \(RE2 syntax\)$/],
    ['(?<!x)a', /^lookbehind is not supported \(RE2 syntax\)$/],
    ['(?>a+)b', /^atomic groups are not supported \(RE2 syntax\)$/],
    ['a++b', /^possessive quantifiers are not supported \(RE2 syntax\)$/],
    ['(x', /^missing closing \): `\(x` \(RE2 syntax\)$/],
    ['[a-', /missing closing \]/],
    ['a{1001}', /invalid repeat count/],
    ['\\p{NoSuchClass}', /invalid character class range/],
    ['\\u00e9', /invalid escape sequence: `\\u`/],
    ['', /^empty pattern$/],
    ['.{1000}', new RegExp(`^compiles to \\d+ RE2 instructions \\(at most ${MAX_PROGRAM_SIZE}\\)`)],
  ];
  for (const [pattern, reason] of cases) {
    it(`refuses ${JSON.stringify(pattern)}`, () => assert.match(refused(pattern), reason));
  }

  it('refuses patterns that can match the empty string, wherever the empty match would be', () => {
    for (const p of ['a*', 'x?', '^', '$', '\\b', '\\B', '(?m)^', 'a|', '(?:)', 'a|\\b', '(?m)$\\n?', '\\z']) {
      assert.match(refused(p), /^must not match the empty string/, p);
    }
  });

  it('accepts the patterns of the docs, the defaults and the existing tests, JavaScript spelling included', () => {
    for (const p of ['sk_live_[A-Za-z0-9]+', 'token=\\w+', 'secret=\\w+', '\\b\\d{16}\\b', 'token=[A-Za-z0-9]+', '\\[REDACTED\\]', CATASTROPHIC, '(?<key>k)=\\d+', '(?P<key>k)=\\d+', '(?i)bearer \\S+', '\\x{e9}t\\x{e9}', 'a\\/b']) {
      assert.doesNotThrow(() => compilePattern(p), p);
    }
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

describe('applyPatterns: hostile inputs', () => {
  it('runs the catastrophic pattern over the 34-character adversarial input in linear time', (t) => {
    const t0 = process.hrtime.bigint();
    const out = apply(ADVERSARIAL_34, [CATASTROPHIC]);
    t.diagnostic(`34 chars: ${Number(process.hrtime.bigint() - t0) / 1e6} ms`);
    assert.equal(ADVERSARIAL_34.length, 34);
    assert.deepEqual(out, { text: ADVERSARIAL_34, bytes: Buffer.from(ADVERSARIAL_34), count: 0 });
  });

  it('runs it over 1 MiB of adversarial input, and still redacts the one real match at its end', (t) => {
    const tail = '"token": "abc def"';
    const input = Buffer.from(`"token":"${'a'.repeat((1 << 20) - 9 - tail.length - 1)},${tail}`, 'latin1');
    assert.equal(input.length, 1 << 20);
    const t0 = process.hrtime.bigint();
    const out = apply(input, [CATASTROPHIC]);
    t.diagnostic(`1 MiB: ${Number(process.hrtime.bigint() - t0) / 1e6} ms`);
    assert.equal(out.count, 1);
    assert.deepEqual(out.bytes, Buffer.concat([input.subarray(0, input.length - tail.length), MARKER]));
  });

  it('redacts exactly the match in a realistic body, leaving the rest byte for byte', () => {
    const body = '{"user":"alice","token": "s3cr3t v4lue","n":1}';
    assert.deepEqual(apply(body, [CATASTROPHIC]), { text: `{"user":"alice",${MARKER},"n":1}`, bytes: Buffer.from(`{"user":"alice",${MARKER},"n":1}`), count: 1 });
  });

  it('skips empty matches of a pattern that got past the check, without looping', () => {
    const out = applyPatterns(Buffer.from('abxxc'), [RE2JS.compile('x*')]);
    assert.equal(out.data.toString(), `ab${MARKER}c`);
    assert.equal(out.count, 1);
    const none = applyPatterns(Buffer.from('abc'), [RE2JS.compile('x*'), RE2JS.compile('^')]);
    assert.deepEqual(none, { data: Buffer.from('abc'), count: 0 });
  });

  it('returns the very buffer when nothing matches, and leaves its input alone when something does', () => {
    const input = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    assert.equal(applyPatterns(input, [compilePattern('secret')]).data, input);
    const hit = Buffer.from('x secret y');
    const copy = Buffer.from(hit);
    applyPatterns(hit, [compilePattern('secret')]);
    assert.deepEqual(hit, copy);
  });

  it('matches UTF-8 text as characters: non-ASCII literals, classes and case folding', () => {
    assert.equal(apply('usuario=josé&contraseña=piñata99&x=1', ['contraseña=[^&]+']).text, `usuario=josé&${MARKER}&x=1`);
    assert.equal(apply('ΚΛΕΙΔΙ=αβγ; next', ['\\p{Greek}+=\\p{Greek}+']).text, `${MARKER}; next`);
    assert.equal(apply('key 🔑abc def', ['\\x{1F511}\\w+']).text, `key ${MARKER} def`);
    assert.equal(apply('ÄPFEL äpfel', ['(?i)äpfel']).count, 2);
    // `.` takes a whole character: the match does not end inside a multi-byte sequence.
    assert.equal(apply('pin=é€x', ['pin=..']).text, `${MARKER}x`);
  });

  it('keeps bytes that are not UTF-8 intact around a match, and matches them as one character each', () => {
    const input = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), Buffer.from('tok=abc'), Buffer.from([0x80, 0xe9])]);
    const out = apply(input, ['tok=\\w+']);
    assert.deepEqual(out.bytes, Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), MARKER, Buffer.from([0x80, 0xe9])]));
    const dots = apply(Buffer.from([0x41, 0xff, 0x42]), ['A.B']);
    assert.deepEqual(dots.bytes, MARKER);
  });

  it('applies the patterns one after another, each on the previous one\'s output', () => {
    const out = apply('a=1 b=2 a=3', ['a=\\d', 'b=\\d']);
    assert.equal(out.text, `${MARKER} ${MARKER} ${MARKER}`);
    assert.equal(out.count, 3);
  });
});
