import { Module } from '@nestjs/common';
import { SslController } from './ssl.controller';
import { SslReadService } from './ssl-read.service';
import { SslRetentionService } from './ssl-retention.service';
import { SslService } from './ssl.service';

/**
 * The ssl-capture job type: ingest and limits (registered with ResultStores), reads and streams, and the
 * retention of captured plaintext; its definition is SSL_CAPTURE (ssl-capture.type.ts).
 */
@Module({ controllers: [SslController], providers: [SslService, SslReadService, SslRetentionService] })
export class SslModule {}
