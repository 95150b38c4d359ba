import { Controller, Get, Header, Param } from '@nestjs/common';
import { RunqlatService } from './runqlat.service';
import type { RunqlatResults } from './runqlat.view';

@Controller('jobs/:id')
export class RunqlatController {
  constructor(private readonly runqlat: RunqlatService) {}

  /** The run-queue latency histogram merged across nodes, per node and per cgroup, with estimated percentiles. */
  @Get('runqlat')
  results(@Param('id') id: string): Promise<RunqlatResults> {
    return this.runqlat.results(id);
  }

  @Get('runqlat.txt')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  text(@Param('id') id: string): Promise<string> {
    return this.runqlat.text(id);
  }

  @Get('runqlat.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Param('id') id: string): Promise<string> {
    return this.runqlat.svg(id);
  }
}
