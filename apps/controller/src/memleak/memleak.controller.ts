import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { MemleakService, type MemleakResults } from './memleak.service';

@Controller('jobs/:id/memleak')
export class MemleakController {
  constructor(private readonly memleak: MemleakService) {}

  /** Snapshots per node, top stacks by outstanding bytes with their growth, and the merged top across nodes. */
  @Get()
  results(@Param('id') id: string, @Query('top') top = '50'): Promise<MemleakResults> {
    const n = Number(top);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BadRequestException({ statusCode: 400, message: ['top must be an integer in [1, 1000]'] });
    return this.memleak.results(id, n);
  }
}
