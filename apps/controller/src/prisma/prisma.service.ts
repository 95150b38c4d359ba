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
 * Result writes at once (TRACEFLEET_STORE_SLOTS). Runs that wait for a slot are written together, up to 64 in
 * one statement (runs/gated-writes.ts), so fewer slots make fewer, larger writes: with 2,000 agents flooding one
 * replica, 3 slots stored 368k and 404k samples/s where 8 (all but the 4 reserved of a pool of 12, the earlier
 * rule) stored 306k and 293k, with StartRun under the flood unchanged (BENCHMARKS.md, fleet). A database with
 * more cores than this 2-CPU machine's may take more.
 */
const DEFAULT_STORE_SLOTS = 3;

/** The one Prisma client of this process; every storage access goes through it. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  /** Result storage (agent batches) runs through this gate: TRACEFLEET_STORE_SLOTS at once, never more than pool − 4. */
  readonly storeGate: StoreGate;
  /** The pg pool under the adapter, kept for its counts (metrics); the adapter ends it on $disconnect. */
  readonly pool: Pool;

  constructor(@Inject(ENV) env: ControllerEnv) {
    const size = env.dbPoolSize ?? DEFAULT_POOL;
    const pool = new Pool({ connectionString: env.databaseUrl, max: size });
    // `as never`: the adapter is typed against its own copy of @types/pg; the runtime class is the same pg.Pool.
    super({ adapter: new PrismaPg(pool as never, { disposeExternalPool: true }) });
    this.pool = pool;
    // One slot while a job is created, dispatched or stopped (StoreGate.foreground): commands come first.
    this.storeGate = new StoreGate(Math.max(1, Math.min(env.storeSlots ?? DEFAULT_STORE_SLOTS, size - RESERVED_CONNECTIONS)), 1);
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
