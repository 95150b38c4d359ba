import { Module } from '@nestjs/common';
import { MemleakController } from './memleak.controller';
import { MemleakService } from './memleak.service';

/** The memleak job type: snapshot storage (registered with ResultStores) and read routes; its definition is MEMLEAK (memleak.type.ts). */
@Module({ controllers: [MemleakController], providers: [MemleakService] })
export class MemleakModule {}
