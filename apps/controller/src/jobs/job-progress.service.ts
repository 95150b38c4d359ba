import { Injectable, NotFoundException } from '@nestjs/common';
import { badField } from '../common/bad-field';
import { UUID_RE } from '../common/ids';
import { SharedReads } from '../common/shared-read';
import type { SseSink } from '../common/sse';
import { JobsService } from './jobs.service';
import { PROGRESS_EVERY_MS, PROGRESS_POLL_MS, pumpProgress, type ProgressInput } from './job-progress';

/**
 * How long one read of a job serves every progress stream of it on this replica. A job over a fleet is
 * watched by many at once in an incident (the console, the CLI), and its view is one read of all its
 * runs: 40-140 ms of this replica's CPU at 2,000 runs (BENCHMARKS.md, fleet: the `answer` step), every
 * PROGRESS_POLL_MS per stream. Shared, the reads of a job are one per window however many watch it; a
 * stream's numbers are at most this much older than its poll. Shorter than the poll, so that one
 * watcher alone reads at every poll (its timer is not held to the millisecond).
 */
export const PROGRESS_SHARED_MS = PROGRESS_POLL_MS - 50;

/** GET /jobs/:id/progress: a job's progress as Server-Sent Events, read from PostgreSQL so any replica serves it. */
@Injectable()
export class JobProgressService {
  private readonly reads = new SharedReads<string, ProgressInput | undefined>(PROGRESS_SHARED_MS);

  constructor(private readonly jobs: JobsService) {}

  /** Before the stream starts: 400 for an id that is not a UUID, 404 for no such job (the read its first poll takes too). */
  async check(id: string): Promise<void> {
    if (!UUID_RE.test(id)) badField('id', 'must be a UUID');
    if ((await this.find(id)) === undefined) throw new NotFoundException(`job ${id} not found`);
  }

  /** Streams until the job ends or is deleted, or the signal is aborted. */
  stream(id: string, sink: SseSink, signal: AbortSignal): Promise<{ sent: number; status: string }> {
    return pumpProgress({ job: () => this.find(id) }, sink, { pollMs: PROGRESS_POLL_MS, everyMs: PROGRESS_EVERY_MS, signal });
  }

  /** The job's view, read at most once per PROGRESS_SHARED_MS for all its streams here; undefined once it is gone (retention, a schedule deleted with its jobs). */
  private find(id: string): Promise<ProgressInput | undefined> {
    return this.reads.get(id, async () => {
      try {
        return await this.jobs.get(id);
      } catch (err) {
        if (err instanceof NotFoundException) return undefined;
        throw err;
      }
    });
  }
}
