import { BadRequestException } from '@nestjs/common';

export type NodeSelector = { all: true } | { all: false; names?: string[]; labels?: Record<string, string> };

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

/** Parses the `nodes` field of a job request; errors name the field. */
export function parseNodeSelector(raw: unknown): NodeSelector {
  if (raw === 'all') return { all: true };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('nodes', 'must be "all" or an object { names?, labels? }');
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (k !== 'names' && k !== 'labels') bad(`nodes.${k}`, 'is not a known selector field (names, labels)');
  const sel: NodeSelector = { all: false };
  if (obj.names !== undefined) {
    if (!Array.isArray(obj.names) || obj.names.length === 0 || obj.names.length > 10_000) bad('nodes.names', 'must be a non-empty array of node names');
    obj.names.forEach((n, i) => {
      if (typeof n !== 'string' || !NAME_RE.test(n)) bad(`nodes.names[${i}]`, 'is not a valid node name');
    });
    sel.names = obj.names as string[];
  }
  if (obj.labels !== undefined) {
    if (typeof obj.labels !== 'object' || obj.labels === null || Array.isArray(obj.labels)) bad('nodes.labels', 'must be an object of label: value');
    const labels = obj.labels as Record<string, unknown>;
    for (const [k, v] of Object.entries(labels)) {
      if (!NAME_RE.test(k)) bad(`nodes.labels`, `has an invalid key "${k}"`);
      if (typeof v !== 'string' || (v !== '' && !NAME_RE.test(v))) bad(`nodes.labels.${k}`, 'must be a label value string');
    }
    sel.labels = labels as Record<string, string>;
  }
  if (!sel.names && !sel.labels) bad('nodes', 'must name nodes or labels, or be "all"');
  return sel;
}

export function matchesSelector(sel: NodeSelector, node: { name: string; labels: Record<string, string> }): boolean {
  if (sel.all) return true;
  if (sel.names && !sel.names.includes(node.name)) return false;
  if (sel.labels) {
    for (const [k, v] of Object.entries(sel.labels)) if (node.labels[k] !== v) return false;
  }
  return true;
}
