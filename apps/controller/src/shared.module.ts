import { Global, Module } from '@nestjs/common';
import { StreamLimiter } from './auth/stream-limiter';
import { ProfilesService } from './profiles/profiles.service';
import { JobQueue } from './queue/job-queue';
import { ControllerMetrics } from './metrics/controller-metrics';

/**
 * Global: what the job types' own modules share with the rest of the app: stack storage, the task
 * queue (schedules, sweeps, retention), the per-token stream limit and the metrics registry. One instance of each.
 */
@Global()
@Module({ providers: [ProfilesService, JobQueue, StreamLimiter, ControllerMetrics], exports: [ProfilesService, JobQueue, StreamLimiter, ControllerMetrics] })
export class SharedModule {}
