import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { CreateJobDto } from './create-job.dto';

/** What the global ValidationPipe would answer: the messages, or [] when the body passes. */
async function messages(body: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(CreateJobDto, body), { whitelist: true, forbidNonWhitelisted: true });
  const out: string[] = [];
  const walk = (es: typeof errors, prefix: string): void => {
    for (const e of es) {
      out.push(...Object.values(e.constraints ?? {}).map((m) => `${prefix}${m}`));
      walk(e.children ?? [], `${prefix}${e.property}.`);
    }
  };
  walk(errors, '');
  return out;
}

const ssl = (over: Record<string, unknown>): Record<string, unknown> => ({ type: 'ssl-capture', durationSec: 10, target: { pid: 1 }, nodes: 'all', ...over });

describe('CreateJobDto: ssl-capture fields', () => {
  it('accepts a full ssl-capture request', async () => {
    assert.deepEqual(
      await messages(
        ssl({
          maxDataBytes: 16384,
          binaries: ['/usr/lib/x86_64-linux-gnu/libssl.so.3'],
          userStacks: true,
          maxEvents: 1_000_000,
          maxTotalBytes: 1 << 30,
          redactHeaders: ['x-api-key', 'X-Auth_Token'],
          redactPatterns: ['sk_live_[A-Za-z0-9]+'],
          redaction: false,
          handshakes: true,
          retentionHours: 720,
        }),
      ),
      [],
    );
  });

  it('names the field and the limit that is broken', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxDataBytes: 16385 }, /^maxDataBytes must not be greater than 16384$/],
      [{ maxDataBytes: 0 }, /^maxDataBytes must not be less than 1$/],
      [{ maxDataBytes: 1.5 }, /^maxDataBytes must be an integer/],
      [{ binaries: ['lib/libssl.so'] }, /^binaries must be absolute paths$/],
      [{ binaries: Array.from({ length: 17 }, (_, i) => `/b${i}`) }, /^binaries must contain no more than 16 elements$/],
      [{ maxEvents: 1_000_001 }, /^maxEvents must not be greater than 1000000$/],
      [{ maxTotalBytes: (1 << 30) + 1 }, /^maxTotalBytes must not be greater than 1073741824$/],
      [{ redactHeaders: ['bad header'] }, /^redactHeaders must be header names/],
      [{ redactHeaders: ['a:b'] }, /^redactHeaders must be header names/],
      [{ redactPatterns: ['x'.repeat(257)] }, /^redactPatterns must each be at most 256 characters$/],
      [{ redactPatterns: Array.from({ length: 33 }, () => 'a') }, /^redactPatterns must contain no more than 32 elements$/],
      [{ redaction: 'no' }, /^redaction must be a boolean value$/],
      [{ handshakes: 1 }, /^handshakes must be a boolean value$/],
      [{ retentionHours: 0 }, /^retentionHours must not be less than 1$/],
      [{ retentionHours: 721 }, /^retentionHours must not be greater than 720$/],
      [{ type: 'ssl' }, /^type must be one of: cpu-profile, usdt, memleak, ssl-capture, syscount, runqlat, biolatency, tcp, off-cpu, oomkill, exec-open$/],
    ];
    for (const [over, re] of cases) {
      const got = await messages(ssl(over));
      assert.ok(got.some((m) => re.test(m)), `${JSON.stringify(over)} → ${JSON.stringify(got)}`);
    }
  });
});

describe('CreateJobDto: joined from the common fields, the shared ones and each type\'s class', () => {
  const base = { durationSec: 10, target: { pid: 1 }, nodes: 'all' };

  it('validates nested classes of a type (usdt pairs) and the common target', async () => {
    assert.deepEqual(await messages({ ...base, type: 'usdt', pairs: [{ begin: 'a:b', end: 'nope' }] }), ['pairs.0.end must be "provider:probe"']);
    assert.deepEqual(await messages({ ...base, type: 'cpu-profile', target: { comm: 'x'.repeat(16) } }), [
      'target.comm must be 1 to 15 printable characters (the kernel truncates names to 15)',
    ]);
  });

  it('checks a shared field once, and refuses fields no type declares', async () => {
    assert.deepEqual(await messages({ ...base, type: 'usdt', maxEvents: 1_000_001 }), ['maxEvents must not be greater than 1000000']);
    assert.deepEqual(await messages({ ...base, type: 'syscount', maxKeys: 0, bogus: 1 }), ['property bogus should not exist', 'maxKeys must not be less than 1']);
  });

  it('takes the cpu-profile runtime switches as booleans only', async () => {
    assert.deepEqual(await messages({ ...base, type: 'cpu-profile', javaPerfMaps: false, pythonFrames: true }), []);
    assert.deepEqual(await messages({ ...base, type: 'cpu-profile', javaPerfMaps: 'no', pythonFrames: 0 }), ['javaPerfMaps must be a boolean value', 'pythonFrames must be a boolean value']);
  });

  it('names every registered type in the type check', async () => {
    assert.deepEqual(await messages({ ...base, type: 'nope' }), ['type must be one of: cpu-profile, usdt, memleak, ssl-capture, syscount, runqlat, biolatency, tcp, off-cpu, oomkill, exec-open']);
    assert.deepEqual(await messages({ ...base, type: 'memleak', frequencyHz: 99, intervalSec: 5 }), []);
  });
});
