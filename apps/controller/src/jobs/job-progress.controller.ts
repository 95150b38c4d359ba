import { Controller, Get, Logger, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Token, type TokenIdentity } from '../auth/scopes';
import { StreamLimiter } from '../auth/stream-limiter';
import { serveEventStream } from '../auth/event-stream';
import { JobProgressService } from './job-progress.service';

@Controller('jobs/:id')
export class JobProgressController {
  private readonly log = new Logger(JobProgressController.name);

  constructor(
    private readonly progress: JobProgressService,
    private readonly limits: StreamLimiter,
  ) {}

  /**
   * Server-Sent Events: `event: progress` at once and at least every second while the job runs, then
   * `event: status` when it ends. Either token: progress carries counters, never captured content or params.
   * Counts towards TRACEFLEET_SSE_STREAMS_PER_TOKEN (429 past it).
   */
  @Get('progress')
  async stream(@Param('id') id: string, @Token() token: TokenIdentity, @Res() res: Response): Promise<void> {
    await this.progress.check(id);
    await serveEventStream(
      res,
      this.limits,
      token,
      (sink, signal) => this.progress.stream(id, sink, signal),
      (err) => this.log.error(`progress stream of job ${id}: ${err.message}`),
    );
  }
}
