import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CreateJobDto } from './dto/create-job.dto';
import { JobsService } from './jobs.service';
import type { JobView } from './job.view';

@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(201)
  create(@Body() dto: CreateJobDto): Promise<JobView> {
    return this.jobs.create(dto);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.get(id);
  }
}
