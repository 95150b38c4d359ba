import { Injectable, NotFoundException } from '@nestjs/common';
import type { RunqlatReport } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { UUID_RE } from '../common/ids';
import { RUNQLAT } from './runqlat.type';
import { log2Svg, log2Text, mergeRunqlat, type RunqlatResults } from './runqlat.view';

@Injectable()
export class RunqlatService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.report<RunqlatReport>('runqlatReport', async (run, report) => void (await RUNQLAT.store(this.prisma, run, report)));
  }

  /** The job's histograms merged across its nodes, each node's, and each cgroup's. */
  async results(jobId: string): Promise<RunqlatResults> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'runqlat') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not runqlat`);
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId },
      select: {
        status: true,
        node: { select: { name: true } },
        runqlatTotals: { select: { latencies: true, noStart: true, noHist: true, final: true } },
        runqlatHistograms: { select: { cgroupId: true, slots: true, totalNs: true } },
      },
    });
    return mergeRunqlat(
      jobId,
      runs.map((r) => ({ node: r.node.name, status: r.status, totals: r.runqlatTotals, histograms: r.runqlatHistograms })),
    );
  }

  private title(r: RunqlatResults): string {
    return `Run-queue latency · job ${r.jobId.slice(0, 8)} · ${r.nodes.length} node(s)`;
  }

  async text(jobId: string): Promise<string> {
    const r = await this.results(jobId);
    const parts = [log2Text(r.merged, `${this.title(r)} · merged`)];
    if (r.nodes.length > 1) for (const n of r.nodes) parts.push(log2Text(n.histogram, `node ${n.node}`));
    return parts.join('\n');
  }

  async svg(jobId: string): Promise<string> {
    const r = await this.results(jobId);
    return log2Svg(r.merged, this.title(r));
  }
}
