import { BadRequestException } from '@nestjs/common';

/** Kubernetes-style set-based requirement on one label. */
export type LabelOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface LabelExpression {
  key: string;
  operator: LabelOperator;
  /** In / NotIn: one or more values; Exists / DoesNotExist: none. */
  values?: string[];
}

/**
 * Which nodes a job (or a schedule, an incident) runs on. Fields are ANDed; `limit` keeps at most
 * that many of the eligible nodes. Optional fields are absent, not undefined, so stored selectors
 * compare equal to what was parsed.
 */
export type NodeSelector =
  | { all: true; limit?: number }
  | { all: false; names?: string[]; labels?: Record<string, string>; expressions?: LabelExpression[]; limit?: number };

export const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const OPERATORS: readonly LabelOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
export const MAX_SELECTOR_LIMIT = 10_000;
const MAX_EXPRESSIONS = 64;
const MAX_VALUES = 256;

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the `nodes` field of a job request; errors name the field (`field` prefixes them, so a
 * schedule can say `spec.nodes.labels.zone`). Forms: "all"; { all: true, limit? };
 * { names?, labels?, expressions?, limit? } with at least one of names, labels, expressions.
 */
export function parseNodeSelector(raw: unknown, field = 'nodes'): NodeSelector {
  if (raw === 'all') return { all: true };
  if (!isObject(raw)) bad(field, 'must be "all" or an object { names?, labels?, expressions?, limit? }');
  const known = ['all', 'names', 'labels', 'expressions', 'selector', 'limit'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) bad(`${field}.${k}`, `is not a known selector field (${known.join(', ')})`);
  const limit = raw.limit === undefined ? undefined : parseLimit(raw.limit, `${field}.limit`);
  if (raw.all !== undefined) {
    if (raw.all !== true) bad(`${field}.all`, 'must be true (or leave it out and name nodes, labels or expressions)');
    const other = ['names', 'labels', 'expressions', 'selector'].filter((k) => raw[k] !== undefined);
    if (other.length) bad(`${field}.all`, `cannot be combined with ${other.join(', ')}`);
    return limit === undefined ? { all: true } : { all: true, limit };
  }
  const sel: NodeSelector = { all: false };
  if (raw.names !== undefined) {
    if (!Array.isArray(raw.names) || raw.names.length === 0 || raw.names.length > 10_000) bad(`${field}.names`, 'must be a non-empty array of node names');
    raw.names.forEach((n, i) => {
      if (typeof n !== 'string' || !NAME_RE.test(n)) bad(`${field}.names[${i}]`, 'is not a valid node name');
    });
    sel.names = raw.names as string[];
  }
  if (raw.labels !== undefined) {
    if (!isObject(raw.labels)) bad(`${field}.labels`, 'must be an object of label: value');
    for (const [k, v] of Object.entries(raw.labels)) {
      if (!NAME_RE.test(k)) bad(`${field}.labels`, `has an invalid key "${k}"`);
      if (typeof v !== 'string' || (v !== '' && !NAME_RE.test(v))) bad(`${field}.labels.${k}`, 'must be a label value string');
    }
    sel.labels = raw.labels as Record<string, string>;
  }
  if (raw.expressions !== undefined) {
    if (!Array.isArray(raw.expressions) || raw.expressions.length === 0 || raw.expressions.length > MAX_EXPRESSIONS) {
      bad(`${field}.expressions`, `must be a non-empty array (at most ${MAX_EXPRESSIONS}) of { key, operator, values? }`);
    }
    sel.expressions = raw.expressions.map((e, i) => parseExpression(e, `${field}.expressions[${i}]`));
  }
  if (raw.selector !== undefined) {
    // The label-selector string of GET /nodes?labelSelector= (what the console's fleet filter and job form take),
    // folded into labels and expressions so what is stored is the same whichever way it was written.
    if (typeof raw.selector !== 'string' || raw.selector.length > 4096) bad(`${field}.selector`, 'must be a label selector string like "env=prod,zone in (a,b)"');
    const parsed = parseLabelSelectorString(raw.selector, `${field}.selector`);
    for (const [k, v] of Object.entries(parsed.labels ?? {})) {
      if (sel.labels?.[k] !== undefined && sel.labels[k] !== v) bad(`${field}.selector`, `asks ${k}=${v} where labels asks ${k}=${sel.labels[k]}`);
      sel.labels = { ...sel.labels, [k]: v };
    }
    if (parsed.expressions) sel.expressions = [...(sel.expressions ?? []), ...parsed.expressions];
    if (sel.expressions && sel.expressions.length > MAX_EXPRESSIONS) bad(`${field}.selector`, `makes more than ${MAX_EXPRESSIONS} expressions`);
  }
  if (!sel.names && !sel.labels && !sel.expressions) bad(field, 'must name nodes, labels, expressions or a selector, or be "all"');
  if (limit !== undefined) sel.limit = limit;
  return sel;
}

function parseLimit(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SELECTOR_LIMIT) bad(field, `must be an integer from 1 to ${MAX_SELECTOR_LIMIT}`);
  return v;
}

function parseExpression(raw: unknown, field: string): LabelExpression {
  if (!isObject(raw)) bad(field, 'must be an object { key, operator, values? }');
  for (const k of Object.keys(raw)) if (!['key', 'operator', 'values'].includes(k)) bad(`${field}.${k}`, 'is not a known field (key, operator, values)');
  if (typeof raw.key !== 'string' || !NAME_RE.test(raw.key)) bad(`${field}.key`, 'must be a label key');
  if (typeof raw.operator !== 'string' || !OPERATORS.includes(raw.operator as LabelOperator)) bad(`${field}.operator`, `must be one of ${OPERATORS.join(', ')}`);
  const operator = raw.operator as LabelOperator;
  const setOp = operator === 'In' || operator === 'NotIn';
  if (setOp) {
    if (!Array.isArray(raw.values) || raw.values.length === 0 || raw.values.length > MAX_VALUES) {
      bad(`${field}.values`, `must be a non-empty array (at most ${MAX_VALUES}) of label values for ${operator}`);
    }
    raw.values.forEach((v, j) => {
      if (typeof v !== 'string' || (v !== '' && !NAME_RE.test(v))) bad(`${field}.values[${j}]`, 'must be a label value string');
    });
    return { key: raw.key, operator, values: raw.values as string[] };
  }
  if (raw.values !== undefined && !(Array.isArray(raw.values) && raw.values.length === 0)) bad(`${field}.values`, `must be empty for ${operator}`);
  return { key: raw.key, operator };
}

/** Whether one label expression holds (NotIn and DoesNotExist hold for a node without the key, as in Kubernetes). */
export function matchesExpression(e: LabelExpression, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, e.key);
  switch (e.operator) {
    case 'In':
      return has && e.values!.includes(labels[e.key]);
    case 'NotIn':
      return !has || !e.values!.includes(labels[e.key]);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** Whether a node matches the names, labels and expressions of a selector (`limit` is applied by selection, not here). */
export function matchesSelector(sel: NodeSelector, node: { name: string; labels: Record<string, string> }): boolean {
  if (sel.all) return true;
  if (sel.names && !sel.names.includes(node.name)) return false;
  if (sel.labels) {
    for (const [k, v] of Object.entries(sel.labels)) if (node.labels[k] !== v) return false;
  }
  if (sel.expressions) {
    for (const e of sel.expressions) if (!matchesExpression(e, node.labels)) return false;
  }
  return true;
}

/** A short human form: `env=prod, zone In (a, b), !canary`, used in reasons and logs. */
export function describeSelector(sel: NodeSelector): string {
  const limit = sel.limit !== undefined ? ` (limit ${sel.limit})` : '';
  if (sel.all) return `all${limit}`;
  const parts: string[] = [];
  if (sel.names) parts.push(`names ${sel.names.join(', ')}`);
  for (const [k, v] of Object.entries(sel.labels ?? {})) parts.push(`${k}=${v}`);
  for (const e of sel.expressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator} (${e.values!.join(', ')})`);
  }
  return parts.join(', ') + limit;
}

/**
 * Parses a Kubernetes label-selector string, as `GET /nodes?labelSelector=` takes it:
 * `env=prod,zone in (a,b),tier!=db,!canary,gpu,region notin (x)`. `k!=v` is `NotIn [v]`.
 */
export function parseLabelSelectorString(text: string, field = 'labelSelector'): { labels?: Record<string, string>; expressions?: LabelExpression[] } {
  const labels: Record<string, string> = {};
  const expressions: LabelExpression[] = [];
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) bad(field, `has an unbalanced ")" in "${text}"`);
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) bad(field, `has an unbalanced "(" in "${text}"`);
  terms.push(cur);
  const key = (k: string, term: string): string => {
    if (!NAME_RE.test(k)) bad(field, `has an invalid label key in "${term}"`);
    return k;
  };
  const value = (v: string, term: string): string => {
    if (v !== '' && !NAME_RE.test(v)) bad(field, `has an invalid label value in "${term}"`);
    return v;
  };
  for (const raw of terms) {
    const term = raw.trim();
    if (!term) bad(field, `has an empty term in "${text}"`);
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/i))) {
      const values = m[3].split(',').map((v) => value(v.trim(), term));
      if (values.length === 0 || (values.length === 1 && values[0] === '')) bad(field, `needs values in "${term}"`);
      expressions.push({ key: key(m[1], term), operator: m[2].toLowerCase() === 'in' ? 'In' : 'NotIn', values });
    } else if ((m = term.match(/^([^=!\s]+)\s*!=\s*(\S*)$/))) {
      expressions.push({ key: key(m[1], term), operator: 'NotIn', values: [value(m[2], term)] });
    } else if ((m = term.match(/^([^=!\s]+)\s*==?\s*(\S*)$/))) {
      labels[key(m[1], term)] = value(m[2], term);
    } else if ((m = term.match(/^!\s*(\S+)$/))) {
      expressions.push({ key: key(m[1], term), operator: 'DoesNotExist' });
    } else {
      expressions.push({ key: key(term, term), operator: 'Exists' });
    }
  }
  return { ...(Object.keys(labels).length ? { labels } : {}), ...(expressions.length ? { expressions } : {}) };
}
