import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import { mergeStacks, renderFlameGraphSvg } from '../profiles/flamegraph/flamegraph';
import { diffFolded, diffFrameStyle } from '../profiles/flamegraph/diff';
import { ProfileExportsService, type CpuProfile } from '../jobs/profile-exports.service';
import type { DiffQueryDto } from './dto/diff-query.dto';

/** Differential outputs between two CPU profile jobs (or two nodes of one). */
@Injectable()
export class DiffService {
  constructor(private readonly exports: ProfileExportsService) {}

  private async load(q: DiffQueryDto): Promise<{ base: CpuProfile; target: CpuProfile }> {
    // Say which side a 422 is about; 404s already name the job or node.
    const side = async (which: 'base' | 'target', id: string, node?: string): Promise<CpuProfile> => {
      try {
        return await this.exports.cpuProfile(id, node);
      } catch (err) {
        if (err instanceof UnprocessableEntityException) throw new UnprocessableEntityException(`${which}: ${err.message}`);
        throw err;
      }
    };
    const base = await side('base', q.base, q.baseNode);
    const target = await side('target', q.target, q.targetNode);
    return { base, target };
  }

  /** The target's flame graph, coloured by the change of each call path's share since the base. */
  async svg(q: DiffQueryDto): Promise<string> {
    const { base, target } = await this.load(q);
    const b = mergeStacks(base.nodes.flatMap((n) => n.stacks));
    const t = mergeStacks(target.nodes.flatMap((n) => n.stacks));
    const style = diffFrameStyle(b, t);
    const where = (p: CpuProfile, node?: string): string => `${p.id.slice(0, 8)}${node === undefined ? '' : ` on ${node}`}`;
    return renderFlameGraphSvg(t, {
      title: `Differential CPU profile · ${where(base, q.baseNode)} → ${where(target, q.targetNode)}`,
      subtitle:
        `base ${style.baseTotal.toLocaleString('en-US')} samples · target ${style.targetTotal.toLocaleString('en-US')} samples · ` +
        'width: target · red: share grew, blue: share shrank',
      frameStyle: style.frameStyle,
    });
  }

  /** "path base_count target_count" lines, like difffolded.pl. */
  async folded(q: DiffQueryDto): Promise<string> {
    const { base, target } = await this.load(q);
    return diffFolded(
      base.nodes.flatMap((n) => n.stacks),
      target.nodes.flatMap((n) => n.stacks),
    );
  }
}
