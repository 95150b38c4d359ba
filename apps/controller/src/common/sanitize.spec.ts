import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessage } from '@tracefleet/proto';
import { clampI64, I64_MAX, REPLACEMENT, sanitizeMessage, sanitizeString, storableDate } from './sanitize';
import { checkOf, decodeChecked } from '../agents/agent-decoder';

const RUN = '0b8e2c55-1f55-4c6e-9d0e-3f4a5b6c7d8e';

describe('string and number sanitiser', () => {
  it('replaces NUL and lone surrogates by U+FFFD and leaves good text alone', () => {
    assert.equal(sanitizeString('G1\u0000Old\u0000'), `G1${REPLACEMENT}Old${REPLACEMENT}`);
    assert.equal(sanitizeString('\u0000'.repeat(3)), REPLACEMENT.repeat(3));
    assert.equal(sanitizeString('a\uD800b'), `a${REPLACEMENT}b`);
    assert.equal(sanitizeString('\uDC00'), REPLACEMENT);
    const good = 'ünïcode 🙂 [k] _[j]';
    assert.equal(sanitizeString(good), good);
    assert.equal(sanitizeString(''), '');
  });

  it('clamps 64-bit values to what int8 columns hold', () => {
    assert.equal(clampI64(2n ** 64n - 1n), I64_MAX);
    assert.equal(clampI64(-(2n ** 70n)), -(2n ** 63n));
    assert.equal(clampI64(-5n), -5n);
  });

  it('turns agent wall-clock times that no date holds into now, and keeps real ones', () => {
    assert.equal(storableDate(1_764_000_000_000n).getTime(), 1_764_000_000_000);
    for (const bad of [0n, -1n, I64_MAX, 2n ** 64n - 1n, 8_640_000_000_000_001n]) {
      const d = storableDate(bad);
      assert.ok(Number.isFinite(d.getTime()) && Math.abs(d.getTime() - Date.now()) < 60_000, `${bad} → ${d.toISOString()}`);
    }
  });

  it('walks a decoded batch: strings, string tables, repeated and map fields; keeps pointers whole', () => {
    const msg: AgentMessage = {
      msg: {
        $case: 'usdtEvents',
        value: {
          runId: RUN,
          seq: 2n ** 64n - 1n,
          strings: ['main', 'f\u0000oo'],
          events: [{ probe: 0, pid: 1, tid: 1, tsNs: 2n ** 64n - 1n, args: [2n ** 63n, -1n], stack: [0, 1], str: 'pool\u0000name\uD800' }],
          origins: [],
        },
      },
    };
    assert.equal(sanitizeMessage(msg), 5);
    const v = msg.msg?.$case === 'usdtEvents' ? msg.msg.value : undefined;
    assert.deepEqual(v?.strings, ['main', `f${REPLACEMENT}oo`]);
    assert.equal(v?.events[0].str, `pool${REPLACEMENT}name${REPLACEMENT}`);
    assert.equal(v?.events[0].tsNs, I64_MAX);
    assert.equal(v?.seq, I64_MAX);
    assert.deepEqual(v?.events[0].args, [I64_MAX, -1n]);
    const ssl = { sslPtr: 2n ** 64n - 1n, length: 2n ** 64n - 1n, data: new Uint8Array([0, 0]) };
    sanitizeMessage(ssl);
    assert.equal(ssl.sslPtr, 2n ** 64n - 1n);
    assert.equal(ssl.length, I64_MAX);
    assert.deepEqual([...ssl.data], [0, 0]); // bytes are stored as bytea: NUL is fine there
    const labels: Record<string, unknown> = { 'zo\u0000ne': 'a\u0000' };
    sanitizeMessage({ labels });
    assert.deepEqual(labels, { [`zo${REPLACEMENT}ne`]: `a${REPLACEMENT}` });
  });

  it('decodes a batch with NUL and invalid UTF-8 in its strings into storable text', () => {
    // UsdtEventBatch{runId, strings: ["a\0b", <ff fe 41>]} built by hand: invalid UTF-8 cannot come from an encoder.
    const strings = Buffer.concat([Buffer.from([0x1a, 3, 0x61, 0x00, 0x62]), Buffer.from([0x1a, 3, 0xff, 0xfe, 0x41])]);
    const batch = Buffer.concat([Buffer.from([0x0a, 36]), Buffer.from(RUN), strings]);
    const wire = Buffer.concat([Buffer.from([0x3a, batch.length]), batch]);
    const msg = decodeChecked(wire);
    assert.equal(msg.msg?.$case, 'usdtEvents');
    const v = msg.msg?.$case === 'usdtEvents' ? msg.msg.value : undefined;
    assert.deepEqual(v?.strings, [`a${REPLACEMENT}b`, `${REPLACEMENT}${REPLACEMENT}A`]);
    for (const s of v?.strings ?? []) assert.equal(Buffer.from(s, 'utf8').includes(0), false);
    assert.equal(checkOf(msg)?.violation, undefined);
  });

  it('does not decode a refused message: 3 M empty events cost no objects', () => {
    const n = 3_000_000;
    const batch = Buffer.alloc(n * 2, Buffer.from([0x22, 0x00]));
    const wire = Buffer.concat([Buffer.from([0x3a]), Buffer.from([0x80 | (batch.length & 0x7f), 0x80 | ((batch.length >> 7) & 0x7f), 0x80 | ((batch.length >> 14) & 0x7f), batch.length >> 21]), batch]);
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    const msg = decodeChecked(wire);
    const grew = process.memoryUsage().heapUsed - before;
    assert.equal(msg.msg, undefined);
    assert.equal(checkOf(msg)?.violation?.limit, 'events per message');
    // Decoding would make 3 M objects (~100 bytes each); the check allocates next to nothing.
    assert.ok(grew < 16 * 1024 * 1024, `heap grew by ${grew} bytes`);
  });
});
