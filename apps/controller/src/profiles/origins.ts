/**
 * Origins: where sampled processes ran (cgroup, container id, Kubernetes pod uid), as agents report them
 * with each batch, and the filters and groupings that profile outputs take by them.
 */
import { BadRequestException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { cgroupPathError, MAX_CGROUP_PATH } from '../common/cgroup-path';

export interface OriginLabels {
  cgroup: string;
  containerId?: string;
  podUid?: string;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;
const POD_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Control and bidi characters would forge or hide text where labels are shown (SVG titles, pprof, terminals).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * An agent's origin made safe to store, or undefined for an empty one (treated as "not known"): the
 * cgroup path cut to 4096 characters with control and bidi characters escaped; a container id that is
 * not 64 lowercase hex digits, or a pod uid that is not a uuid, is dropped (the cgroup path still shows it).
 */
export function sanitizeOrigin(o: { cgroup: string; containerId: string; podUid: string }): OriginLabels | undefined {
  if (o.cgroup === '' && o.containerId === '' && o.podUid === '') return undefined;
  let cgroup = o.cgroup.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (cgroup.length > MAX_CGROUP_PATH) cgroup = `${cgroup.slice(0, MAX_CGROUP_PATH)}...`;
  return {
    cgroup: cgroup === '' ? '?' : cgroup,
    containerId: CONTAINER_ID.test(o.containerId) ? o.containerId : undefined,
    podUid: POD_UID.test(o.podUid) ? o.podUid : undefined,
  };
}

export function originKey(o: OriginLabels): string {
  return createHash('sha256').update(`${o.cgroup}\0${o.containerId ?? ''}\0${o.podUid ?? ''}`).digest('hex');
}

/** Which samples a profile output keeps: by container id (or prefix) and by cgroup (that path and below). */
export interface OriginFilter {
  container?: string;
  cgroup?: string;
}

export type OriginGrouping = 'container' | 'pod' | 'cgroup';

/** The `?container=`, `?cgroup=` and `?groupBy=` query parameters, checked; 400 naming the bad one. */
export function originQuery(q: { container?: unknown; cgroup?: unknown; groupBy?: unknown }): { filter: OriginFilter; groupBy?: OriginGrouping } {
  const filter: OriginFilter = {};
  if (q.container !== undefined) {
    if (typeof q.container !== 'string' || !/^[0-9a-f]{4,64}$/.test(q.container)) {
      throw new BadRequestException('container must be a container id or a prefix of one: 4 to 64 lowercase hex digits');
    }
    filter.container = q.container;
  }
  if (q.cgroup !== undefined) {
    const err = typeof q.cgroup === 'string' ? cgroupPathError(q.cgroup) : 'must be one cgroup path';
    if (err) throw new BadRequestException(`cgroup ${err}`);
    filter.cgroup = q.cgroup as string;
  }
  if (q.groupBy !== undefined && q.groupBy !== 'container' && q.groupBy !== 'pod' && q.groupBy !== 'cgroup') {
    throw new BadRequestException('groupBy must be one of container, pod, cgroup');
  }
  return { filter, groupBy: q.groupBy as OriginGrouping | undefined };
}

/** The root frame a grouped flame graph puts above each origin's stacks. */
export function groupFrame(groupBy: OriginGrouping, o: OriginLabels | undefined): string {
  if (groupBy === 'container') return o?.containerId ? `container ${o.containerId.slice(0, 12)}` : '[no container]';
  if (groupBy === 'pod') return o?.podUid ? `pod ${o.podUid}` : '[no pod]';
  return o ? `cgroup ${o.cgroup}` : '[cgroup not known]';
}

/** `LIKE` pattern text with its wildcards escaped (backslash is PostgreSQL's default escape). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** How an event's origin reads in the API: its cgroup, container id and pod uid, null where not known. */
export function originView(o: OriginLabels | undefined): { cgroup: string | null; container: string | null; podUid: string | null } {
  return { cgroup: o?.cgroup ?? null, container: o?.containerId ?? null, podUid: o?.podUid ?? null };
}

/** The SQL parameters of an origin filter: a LIKE prefix for the container, the cgroup and a LIKE for below it. */
export function originWhere(f: OriginFilter): { container: string | null; cgroup: string | null; below: string | null } {
  return {
    container: f.container === undefined ? null : `${likeEscape(f.container)}%`,
    cgroup: f.cgroup ?? null,
    below: f.cgroup === undefined ? null : f.cgroup === '/' ? '/%' : `${likeEscape(f.cgroup)}/%`,
  };
}
