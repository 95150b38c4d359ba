import { Injectable, NotFoundException } from '@nestjs/common';
import type { BiolatencyReport } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { UUID_RE } from '../common/ids';
import { BIOLATENCY } from './biolatency.type';
import { biolatencySvg, biolatencyText, mergeBiolatency, type BiolatencyResults } from './biolatency.view';

@Injectable()
export class BiolatencyService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.report<BiolatencyReport>('biolatencyReport', async (run, report) => void (await BIOLATENCY.store(this.prisma, run, report)));
  }

  /** The job's histograms merged across its nodes, each node's, each disk's and each process's. */
  async results(jobId: string): Promise<BiolatencyResults> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'biolatency') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not biolatency`);
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId },
      select: {
        status: true,
        node: { select: { name: true } },
        biolatencyTotals: { select: { ios: true, startFull: true, noStart: true, noHist: true, histogramsLeftOut: true, final: true } },
        biolatencyHistograms: {
          select: { disk: true, major: true, minor: true, pid: true, comm: true, latency: true, size: true, totalNs: true, totalBytes: true },
        },
      },
    });
    return mergeBiolatency(
      jobId,
      runs.map((r) => ({ node: r.node.name, status: r.status, totals: r.biolatencyTotals, histograms: r.biolatencyHistograms })),
    );
  }

  private title(r: BiolatencyResults): string {
    return `Block I/O latency and size · job ${r.jobId.slice(0, 8)} · ${r.nodes.length} node(s)`;
  }

  async text(jobId: string): Promise<string> {
    const r = await this.results(jobId);
    return biolatencyText(r, this.title(r));
  }

  async svg(jobId: string): Promise<string> {
    const r = await this.results(jobId);
    return biolatencySvg(r, this.title(r));
  }
}
