import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { UsdtService, type UsdtResults } from './usdt.service';
import { originQuery } from '../profiles/origins';

@Controller('jobs/:id/usdt')
export class UsdtController {
  constructor(private readonly usdt: UsdtService) {}

  /** Counts per probe, pair histograms and slowest occurrences, merged across nodes with a per-node breakdown. */
  @Get()
  results(@Param('id') id: string): Promise<UsdtResults> {
    return this.usdt.results(id);
  }

  /** Captured events with arguments, oldest first; page with ?after=<next>. */
  @Get('events')
  async events(
    @Param('id') id: string,
    @Query('node') node?: string,
    @Query('probe') probe?: string,
    @Query('limit') limit = '100',
    @Query('after') after?: string,
    @Query('container') container?: string,
    @Query('cgroup') cgroup?: string,
  ) {
    await this.usdt.results(id); // 404s for unknown or non-usdt jobs
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BadRequestException({ statusCode: 400, message: ['limit must be an integer in [1, 1000]'] });
    if (after !== undefined && !/^\d{1,19}$/.test(after)) throw new BadRequestException({ statusCode: 400, message: ['after must be an event id'] });
    const { filter } = originQuery({ container, cgroup });
    return this.usdt.events(id, { node, probe, limit: n, afterId: after === undefined ? undefined : BigInt(after), origin: filter });
  }
}
