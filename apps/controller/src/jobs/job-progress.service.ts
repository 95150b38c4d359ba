import { Injectable, NotFoundException } from '@nestjs/common';
import { badField } from '../common/bad-field';
import { UUID_RE } from '../common/ids';
import type { SseSink } from '../common/sse';
import { JobsService } from './jobs.service';
import { PROGRESS_EVERY_MS, PROGRESS_POLL_MS, pumpProgress, type ProgressInput } from './job-progress';

/** GET /jobs/:id/progress: a job's progress as Server-Sent Events, read from PostgreSQL so any replica serves it. */
@Injectable()
export class JobProgressService {
  constructor(private readonly jobs: JobsService) {}

  /** Before the stream starts: 400 for an id that is not a UUID, 404 for no such job. */
  async check(id: string): Promise<void> {
    if (!UUID_RE.test(id)) badField('id', 'must be a UUID');
    await this.jobs.get(id);
  }

  /** Streams until the job ends or is deleted, or the signal is aborted. */
  stream(id: string, sink: SseSink, signal: AbortSignal): Promise<{ sent: number; status: string }> {
    return pumpProgress({ job: () => this.find(id) }, sink, { pollMs: PROGRESS_POLL_MS, everyMs: PROGRESS_EVERY_MS, signal });
  }

  /** The job's view now; undefined once it is gone (retention, a schedule deleted with its jobs). */
  private async find(id: string): Promise<ProgressInput | undefined> {
    try {
      return await this.jobs.get(id);
    } catch (err) {
      if (err instanceof NotFoundException) return undefined;
      throw err;
    }
  }
}
