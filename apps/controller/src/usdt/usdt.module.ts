import { Module } from '@nestjs/common';
import { UsdtController } from './usdt.controller';
import { UsdtService } from './usdt.service';

/** The usdt job type: its results' storage (registered with ResultStores) and read routes; its definition is USDT (usdt.type.ts). */
@Module({ controllers: [UsdtController], providers: [UsdtService] })
export class UsdtModule {}
