import { Module } from '@nestjs/common';
import { RunqlatController } from './runqlat.controller';
import { RunqlatService } from './runqlat.service';

/** The runqlat job type's REST face; its request, StartRun and storage parts are RUNQLAT (runqlat.type.ts). */
@Module({ controllers: [RunqlatController], providers: [RunqlatService] })
export class RunqlatModule {}
