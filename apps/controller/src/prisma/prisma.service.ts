import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import { ENV, type ControllerEnv } from '../config/env';
import { StoreGate } from './store-gate';

const DEFAULT_POOL = 12;
/** Connections result storage leaves to heartbeats, dispatch and the REST API. */
const RESERVED_CONNECTIONS = 4;
/**
 * Result writes at once across the stack (TRACEFLEET_STACK_STORE_SLOTS), shared among the replicas writing
 * results (stack-slots.ts); a replica given TRACEFLEET_STORE_SLOTS keeps that number. Runs that wait for a slot are
 * written together, up to 64 in one statement (runs/gated-writes.ts), so fewer slots make fewer, larger writes:
 * with 2,000 agents flooding one replica, 3 slots stored 368k and 404k samples/s where 8 (all but the 4 reserved
 * of a pool of 12, the earlier rule) stored 306k and 293k, with StartRun under the flood unchanged; three replicas
 * of 3 slots each did worse than of 1 each (BENCHMARKS.md, fleet). A database with more cores than this 2-CPU
 * machine's may take more.
 */
export const DEFAULT_STACK_STORE_SLOTS = 3;

/** The one Prisma client of this process; every storage access goes through it. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  /** Result storage (agent batches) runs through this gate: its slots at once (stack-slots.ts), never more than maxStoreSlots. */
  readonly storeGate: StoreGate;
  /** The most slots the gate may have: the pool less the 4 connections kept for heartbeats, dispatch and the API (at least 1). */
  readonly maxStoreSlots: number;
  /** The pg pool under the adapter, kept for its counts (metrics); the adapter ends it on $disconnect. */
  readonly pool: Pool;

  constructor(@Inject(ENV) env: ControllerEnv) {
    const size = env.dbPoolSize ?? DEFAULT_POOL;
    const pool = new Pool({ connectionString: env.databaseUrl, max: size });
    // `as never`: the adapter is typed against its own copy of @types/pg; the runtime class is the same pg.Pool.
    super({ adapter: new PrismaPg(pool as never, { disposeExternalPool: true }) });
    this.pool = pool;
    this.maxStoreSlots = Math.max(1, size - RESERVED_CONNECTIONS);
    // Until StackSlots has counted the replicas, this one takes the whole stack's share (a lone replica).
    // One slot while a job is created, dispatched or stopped (StoreGate.foreground): commands come first.
    this.storeGate = new StoreGate(Math.min(env.storeSlots ?? env.stackStoreSlots ?? DEFAULT_STACK_STORE_SLOTS, this.maxStoreSlots), 1);
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
