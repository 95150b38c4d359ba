import { Module } from '@nestjs/common';
import { SyscountController } from './syscount.controller';
import { SyscountService } from './syscount.service';

/** The syscount job type's REST face; its request, StartRun and storage parts are SYSCOUNT (syscount.type.ts). */
@Module({ controllers: [SyscountController], providers: [SyscountService] })
export class SyscountModule {}
