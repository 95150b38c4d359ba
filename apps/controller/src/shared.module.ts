import { Global, Module } from '@nestjs/common';
import { StreamLimiter } from './auth/stream-limiter';
import { ProfilesService } from './profiles/profiles.service';
import { JobQueue } from './queue/job-queue';

/**
 * Global: what the job types' own modules share with the rest of the app: stack storage, the task
 * queue (schedules, sweeps, retention) and the per-token stream limit. One instance of each.
 */
@Global()
@Module({ providers: [ProfilesService, JobQueue, StreamLimiter], exports: [ProfilesService, JobQueue, StreamLimiter] })
export class SharedModule {}
