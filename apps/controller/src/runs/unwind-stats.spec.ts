import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { UnwindStats } from '@tracefleet/proto';
import { buildOpenApi } from '../openapi/openapi';
import { UNWIND_COUNTERS, unwindStatsOf, unwindView } from './unwind-stats';

/** Distinct values, so a counter stored under another's name shows. */
function sampleUnwind(): UnwindStats {
  return {
    stacks: 1000n,
    stacksComplete: 990n,
    framesTable: 12000n,
    framesFp: 300n,
    cutNoMapping: 1n,
    cutNoRow: 2n,
    cutExpression: 3n,
    cutDepth: 4n,
    cutReadFault: 5n,
    unwindPending: 6n,
    cutInvalid: 7n,
    tablesBuilt: 8n,
    tableBuildMs: 90n,
    tableBytes: 1_048_576n,
    tableBytesPeak: 2_097_152n,
    tablesEvicted: 9n,
    tablesRefused: 10n,
    processes: 11n,
    modulesFp: 12n,
  };
}

describe('unwind stats', () => {
  it('a hostile agent\'s u64 maximum in every counter is stored and shown as a finite JSON number', () => {
    const max = (1n << 64n) - 1n;
    const hostile = Object.fromEntries(Object.keys(sampleUnwind()).map((k) => [k, max])) as unknown as UnwindStats;
    const stored = unwindStatsOf(hostile)!;
    for (const [k, v] of Object.entries(stored)) assert.ok(Number.isFinite(v) && v > 0, `${k}: ${v}`);
    const shown = unwindView(JSON.parse(JSON.stringify(stored)));
    assert.deepEqual(shown, stored);
  });

  it('stores every counter under its camelCase name as a JSON number', () => {
    const stored = unwindStatsOf(sampleUnwind());
    assert.deepEqual(stored, {
      stacks: 1000,
      stacksComplete: 990,
      framesTable: 12000,
      framesFp: 300,
      cutNoMapping: 1,
      cutNoRow: 2,
      cutExpression: 3,
      cutDepth: 4,
      cutReadFault: 5,
      unwindPending: 6,
      cutInvalid: 7,
      tablesBuilt: 8,
      tableBuildMs: 90,
      tableBytes: 1_048_576,
      tableBytesPeak: 2_097_152,
      tablesEvicted: 9,
      tablesRefused: 10,
      processes: 11,
      modulesFp: 12,
    });
    // What Prisma writes and reads back is JSON: bigint would not survive it.
    assert.deepEqual(JSON.parse(JSON.stringify(stored)), stored);
  });

  it('stores nothing when the agent sent no unwind stats', () => {
    assert.equal(unwindStatsOf(undefined), null);
  });

  it('reads stored counters back, a missing one as 0, and null as null', () => {
    const stored = unwindStatsOf(sampleUnwind());
    assert.deepEqual(unwindView(JSON.parse(JSON.stringify(stored))), stored);
    assert.equal(unwindView(null), null);
    const partial = unwindView({ stacks: 5 });
    assert.equal(partial?.stacks, 5);
    assert.equal(partial?.cutDepth, 0);
    assert.equal(Object.keys(partial ?? {}).length, Object.keys(UNWIND_COUNTERS).length);
  });

  it('documents the run view with every counter as a described integer, nullable', () => {
    const run = buildOpenApi().components.schemas.Run as { properties: Record<string, { oneOf?: { type: string; properties?: Record<string, { type: string; description?: string }> }[] }>; required: string[] };
    assert.ok(run.required.includes('unwind'), 'unwind is always written (null when absent)');
    const [counters, nul] = run.properties.unwind.oneOf ?? [];
    assert.equal(nul?.type, 'null');
    assert.deepEqual(Object.keys(counters?.properties ?? {}), Object.keys(unwindStatsOf(sampleUnwind()) ?? {}));
    for (const [k, s] of Object.entries(counters?.properties ?? {})) {
      assert.equal(s.type, 'integer', k);
      assert.ok(s.description && !s.description.includes('\n'), `${k} has a one-line description`);
    }
  });
});
