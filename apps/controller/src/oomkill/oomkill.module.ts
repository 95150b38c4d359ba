import { Module } from '@nestjs/common';
import { OomkillController } from './oomkill.controller';
import { OomkillService } from './oomkill.service';

/** The oomkill job type's REST face and result stores; its request, StartRun and wire parts are OOMKILL (oomkill.type.ts). */
@Module({ controllers: [OomkillController], providers: [OomkillService] })
export class OomkillModule {}
