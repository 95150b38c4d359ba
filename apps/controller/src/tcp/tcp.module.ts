import { Module } from '@nestjs/common';
import { TcpController } from './tcp.controller';
import { TcpService } from './tcp.service';

/** The tcp job type's REST face and result stores; its request, StartRun and wire parts are TCP (tcp.type.ts). */
@Module({ controllers: [TcpController], providers: [TcpService] })
export class TcpModule {}
