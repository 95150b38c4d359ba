import { Controller, Get, Header, Param } from '@nestjs/common';
import { BiolatencyService } from './biolatency.service';
import type { BiolatencyResults } from './biolatency.view';

@Controller('jobs/:id')
export class BiolatencyController {
  constructor(private readonly biolatency: BiolatencyService) {}

  /** Block I/O latency and size histograms merged across nodes, per node, per disk and per process, with estimated percentiles. */
  @Get('biolatency')
  results(@Param('id') id: string): Promise<BiolatencyResults> {
    return this.biolatency.results(id);
  }

  @Get('biolatency.txt')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  text(@Param('id') id: string): Promise<string> {
    return this.biolatency.text(id);
  }

  @Get('biolatency.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Param('id') id: string): Promise<string> {
    return this.biolatency.svg(id);
  }
}
