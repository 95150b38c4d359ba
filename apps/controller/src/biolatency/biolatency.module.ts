import { Module } from '@nestjs/common';
import { BiolatencyController } from './biolatency.controller';
import { BiolatencyService } from './biolatency.service';

/** The biolatency job type's REST face; its request, StartRun and storage parts are BIOLATENCY (biolatency.type.ts). */
@Module({ controllers: [BiolatencyController], providers: [BiolatencyService] })
export class BiolatencyModule {}
