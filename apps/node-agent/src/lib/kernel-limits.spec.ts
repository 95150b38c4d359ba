import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { layouts } from '@tracefleet/native';
import { TRACEFLEET_COMM_LEN, TRACEFLEET_MAX_STACK_DEPTH, TRACEFLEET_MAX_TARGET_PIDS } from './kernel-limits';

describe('kernel limits', () => {
  it('are the values the addon and the BPF programs were built with (limits.h)', () => {
    assert.deepEqual(layouts().limits, { TRACEFLEET_COMM_LEN, TRACEFLEET_MAX_STACK_DEPTH, TRACEFLEET_MAX_TARGET_PIDS });
  });
});
