import type { Origin as ProtoOrigin } from '@tracefleet/proto';
import type { Origin } from '../lib/proc';

/**
 * One result batch's origins (where its processes run: cgroup, container id, pod uid), each once, and the
 * index + 1 its results carry (0: not known) — the shape ProfileBatch, UsdtEventBatch and SslEventBatch share.
 */
/** Equal origins (of different processes) as one key. */
export const originKey = (o: Origin): string => `${o.cgroup}\0${o.containerId ?? ''}\0${o.podUid ?? ''}`;

export class OriginTable {
  readonly list: ProtoOrigin[] = [];
  private readonly byKey = new Map<string, number>();

  index(o: Origin | undefined): number {
    if (!o) return 0;
    const key = originKey(o);
    let i = this.byKey.get(key);
    if (i === undefined) {
      this.list.push({ cgroup: o.cgroup, containerId: o.containerId ?? '', podUid: o.podUid ?? '' });
      this.byKey.set(key, (i = this.list.length));
    }
    return i;
  }
}
