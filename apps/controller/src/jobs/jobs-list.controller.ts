import { Controller, Get, Query } from '@nestjs/common';
import { ListJobsQueryDto } from './dto/list-jobs.dto';
import { JobsListService, type JobList } from './jobs-list.service';

/** GET /jobs, beside JobsController's POST /jobs and GET /jobs/:id (no path here, so no clash with :id). */
@Controller('jobs')
export class JobsListController {
  constructor(private readonly jobs: JobsListService) {}

  /** Either token: summaries carry no params, so nothing here needs the ssl-capture scope. */
  @Get()
  list(@Query() q: ListJobsQueryDto): Promise<JobList> {
    return this.jobs.list(q);
  }
}
