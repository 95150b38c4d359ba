import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from './prisma.service';

/** Global: the validated environment and the one Prisma client. */
@Global()
@Module({})
export class PrismaModule {
  static forEnv(env: ControllerEnv): DynamicModule {
    return {
      module: PrismaModule,
      providers: [{ provide: ENV, useValue: env }, PrismaService],
      exports: [ENV, PrismaService],
    };
  }
}
