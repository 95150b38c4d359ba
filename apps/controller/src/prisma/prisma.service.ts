import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import { ENV, type ControllerEnv } from '../config/env';
import { StoreGate } from './store-gate';

const DEFAULT_POOL = 12;
/** Connections result storage leaves to heartbeats, dispatch and the REST API. */
const RESERVED_CONNECTIONS = 4;

/** The one Prisma client of this process; every storage access goes through it. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  /** Result storage (agent batches) runs through this gate: at most pool − 4 at once. */
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
    this.storeGate = new StoreGate(Math.max(1, size - RESERVED_CONNECTIONS), 1);
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
