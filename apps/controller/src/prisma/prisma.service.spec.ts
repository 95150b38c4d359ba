import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ControllerEnv } from '../config/env';
import { PrismaService } from './prisma.service';

/** A client that is never connected: the gate's size is set in the constructor. */
const slotsOf = (env: Partial<ControllerEnv>): number => new PrismaService({ databaseUrl: 'postgresql://u:p@127.0.0.1:1/none', ...env } as ControllerEnv).storeGate.slots;

describe('PrismaService storage gate', () => {
  it('has TRACEFLEET_STORE_SLOTS slots, never more than the pool less the 4 kept for commands, never fewer than 1', () => {
    assert.equal(slotsOf({ dbPoolSize: 12, storeSlots: 3 }), 3);
    assert.equal(slotsOf({ dbPoolSize: 12, storeSlots: 20 }), 8, 'heartbeats, dispatch and the API keep their 4');
    assert.equal(slotsOf({ dbPoolSize: 4, storeSlots: 3 }), 1);
    assert.equal(slotsOf({}), 3, 'the defaults when the env leaves them out (specs)');
    // Unset TRACEFLEET_STORE_SLOTS: the whole stack's share until the replicas are counted (stack-slots.ts).
    assert.equal(slotsOf({ dbPoolSize: 12, stackStoreSlots: 5 }), 5);
    assert.equal(slotsOf({ dbPoolSize: 6, stackStoreSlots: 5 }), 2);
    assert.equal(slotsOf({ dbPoolSize: 12, storeSlots: 1, stackStoreSlots: 5 }), 1, 'a fixed number wins');
  });
});
