import { Injectable, NotFoundException } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import { mergeSyscount, type SyscountResults } from './syscount.view';
import type { SyscountReport } from '@tracefleet/proto';
import { ResultStores } from '../common/result-stores';
import { SYSCOUNT } from './syscount.type';
import { UUID_RE } from '../common/ids';


@Injectable()
export class SyscountService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.report<SyscountReport>('syscountReport', async (run, report) => void (await SYSCOUNT.store(this.prisma, run, report)));
  }

  /** The job's counts merged across its nodes (top N syscalls and processes). */
  async results(jobId: string, topN: number): Promise<SyscountResults> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'syscount') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not syscount`);
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId },
      select: { status: true, syscountTotals: { select: { totals: true } }, node: { select: { name: true } }, syscountCounts: { select: { pid: true, nr: true, name: true, comm: true, count: true } } },
    });
    return mergeSyscount(
      jobId,
      runs.map((r) => ({ node: r.node.name, status: r.status, report: (r.syscountTotals?.totals as Record<string, unknown> | undefined) ?? null, counts: r.syscountCounts })),
      topN,
    );
  }
}
