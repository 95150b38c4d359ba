import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
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

  constructor(@Inject(ENV) env: ControllerEnv) {
    const pool = env.dbPoolSize ?? DEFAULT_POOL;
    super({ adapter: new PrismaPg({ connectionString: env.databaseUrl, max: pool }) });
    this.storeGate = new StoreGate(Math.max(1, pool - RESERVED_CONNECTIONS));
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
