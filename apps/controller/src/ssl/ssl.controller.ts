import { Controller, Get, Logger, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RequireScopes, Token, type TokenIdentity } from '../auth/scopes';
import { StreamLimiter } from '../auth/stream-limiter';
import { serveEventStream } from '../auth/event-stream';
import { Audit } from '../audit/audit.decorator';
import { SslService } from './ssl.service';
import { SslReadService, type HttpSummaries, type SslEventPage } from './ssl-read.service';
import { parseHttpQuery, parsePageQuery, parseStreamQuery } from './ssl-query';
import { STREAM_HEARTBEAT_MS, STREAM_POLL_MS, pumpSse } from './sse';
const STREAM_PAGE = 500;

/** What ssl-capture jobs captured. TLS plaintext: every route needs the ssl-capture scope (TRACEFLEET_CAPTURE_TOKEN). */
@Controller('jobs/:id')
@RequireScopes('ssl-capture')
export class SslController {
  private readonly log = new Logger(SslController.name);

  constructor(
    private readonly ssl: SslService,
    private readonly read: SslReadService,
    private readonly limits: StreamLimiter,
  ) {}

  /** ?node=&pid=&direction=read|write|handshake&contains=TEXT&limit=&after=|before=&order=oldest|newest */
  @Get('ssl-events')
  @Audit('ssl.read', 'job')
  async events(@Param('id') id: string, @Query() q: Record<string, unknown>): Promise<SslEventPage> {
    await this.ssl.sslJob(id);
    return this.read.events(id, parsePageQuery(q));
  }

  /**
   * Server-Sent Events: every new event (`event: ssl`), then `event: status` when the job ends. Same filters; ?after= or Last-Event-ID.
   * At most TRACEFLEET_SSE_STREAMS_PER_TOKEN open per token (429 past it); closed when the token's streams are ended or at shutdown.
   */
  @Get('ssl-events/stream')
  @Audit('ssl.stream', 'job')
  async stream(@Param('id') id: string, @Query() q: Record<string, unknown>, @Token() token: TokenIdentity, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.ssl.sslJob(id);
    const query = parseStreamQuery(q, req.headers['last-event-id']);
    await serveEventStream(
      res,
      this.limits,
      token,
      (sink, signal) =>
        pumpSse(
          { fetch: (after, n) => this.read.after(id, query, after, n), job: () => this.read.jobState(id) },
          sink,
          { after: query.after, pollMs: STREAM_POLL_MS, heartbeatMs: STREAM_HEARTBEAT_MS, pageSize: STREAM_PAGE, signal },
        ),
      (err) => this.log.error(`ssl-events stream of job ${id}: ${err.message}`),
    );
  }

  /** HTTP/1.x exchanges and HTTP/2 frames per connection. ?node=&pid=&limit=(connections)&after=<nextCursor> */
  @Get('http')
  @Audit('ssl.read', 'job')
  async http(@Param('id') id: string, @Query() q: Record<string, unknown>): Promise<HttpSummaries> {
    await this.ssl.sslJob(id);
    return this.read.http(id, parseHttpQuery(q));
  }
}
