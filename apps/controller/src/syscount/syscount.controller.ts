import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { SyscountService } from './syscount.service';
import type { SyscountResults } from './syscount.view';

@Controller('jobs/:id/syscount')
export class SyscountController {
  constructor(private readonly syscount: SyscountService) {}

  /** Syscall counts merged across nodes: by syscall, by process, and each node's totals. */
  @Get()
  results(@Param('id') id: string, @Query('top') top = '50'): Promise<SyscountResults> {
    const n = Number(top);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BadRequestException({ statusCode: 400, message: ['top must be an integer in [1, 1000]'] });
    return this.syscount.results(id, n);
  }
}
