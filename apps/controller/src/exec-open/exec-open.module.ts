import { Module } from '@nestjs/common';
import { ExecOpenController } from './exec-open.controller';
import { ExecOpenService } from './exec-open.service';

/** The exec-open job type's REST face and result stores; its request, StartRun and wire parts are EXEC_OPEN (exec-open.type.ts). */
@Module({ controllers: [ExecOpenController], providers: [ExecOpenService] })
export class ExecOpenModule {}
