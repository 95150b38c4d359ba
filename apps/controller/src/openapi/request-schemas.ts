import { CreateJobDto, JOB_TYPES, TargetDto, type JobTypeName } from '../jobs/dto/create-job.dto';
import { MAX_SELECTOR_LIMIT, NAME_RE } from '../nodes/selector';
import { CreateIncidentDto, DEFAULT_LEAD_MS } from '../incidents/dto/create-incident.dto';
import { MAX_BUNDLE } from '../incidents/bundle';
import { CreateScheduleDto, DEFAULT_KEEP_REPORTS } from '../schedules/dto/create-schedule.dto';
import { JOB_TYPE_DEFS, jobTypeDef } from '../job-types/registry';
import { arrayOf, ref, type Schema } from './build';
import { dtoSchema } from './dto-schema';
import { typeRequestSchemas } from './type-parts';

/** Limits of the node selector that parseNodeSelector checks in code (selector.spec and openapi.spec keep them in step). */
export const SELECTOR_LIMITS = { names: 10_000, expressions: 64, values: 256 } as const;

const COMMON = ['type', 'durationSec', 'target'] as const;
/** The fields each job type accepts besides the common ones (job-spec.ts refuses the others with a 400 naming the field). */
export const JOB_TYPE_FIELDS = Object.fromEntries(JOB_TYPE_DEFS.map((d) => [d.name, [...d.fields]])) as Record<JobTypeName, string[]>;

/** Descriptions of the fields every job type has; each type documents its own (job-types/registry.ts `docs`). */
const FIELD_DOCS: Record<string, Schema> = {
  durationSec: { description: 'Seconds to trace. The server may set a lower ceiling (TRACEFLEET_MAX_DURATION_SEC, default 3600): above it is a 400.' },
  target: { $ref: '#/components/schemas/Target' },
};

/** One job body per type, without `nodes` (incident and schedule templates). */
function template(type: JobTypeName): Schema {
  const def = jobTypeDef(type)!;
  const docs: Record<string, Schema> = { ...FIELD_DOCS, ...(def.docs.fields as Record<string, Schema>), type: { const: type } };
  const s = dtoSchema(CreateJobDto, [...COMMON, ...JOB_TYPE_FIELDS[type]], docs, { description: def.docs.description });
  // `type` is validated with an enum; in one variant it is that one value.
  (s.properties as Record<string, Schema>).type = { type: 'string', const: type };
  return s;
}

const name = (type: string): string => type.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
/** e.g. CpuProfileTemplate, SslCaptureJobRequest */
export const templateName = (type: string): string => `${name(type)}Template`;
export const requestName = (type: string): string => `${name(type)}JobRequest`;

const oneOfByType = (schemaName: (t: string) => string): Schema => ({
  oneOf: JOB_TYPES.map((t) => ref(schemaName(t))),
  discriminator: { propertyName: 'type', mapping: Object.fromEntries(JOB_TYPES.map((t) => [t, `#/components/schemas/${schemaName(t)}`])) },
});

const label = { type: 'string', pattern: NAME_RE.source, description: 'A label key or value: up to 63 letters, digits, . _ / -, alphanumeric at both ends (a value may be "").' };

export function requestSchemas(): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const t of JOB_TYPES) {
    const tpl = template(t);
    out[templateName(t)] = tpl;
    const props = tpl.properties as Record<string, Schema>;
    out[requestName(t)] = { ...tpl, properties: { ...props, nodes: ref('NodeSelector') }, required: [...(tpl.required as string[]), 'nodes'] };
  }
  out.JobRequest = { description: 'POST /jobs: one of the job types, by `type`. Fields of another type are a 400 naming the field.', ...oneOfByType(requestName) };
  out.JobTemplate = { description: 'A job body without `nodes` (incidents and schedules give one selector for all).', ...oneOfByType(templateName) };
  out.Target = {
    description: 'What to trace on each node: exactly one of pid, comm (processes started later count too) or all.',
    oneOf: ['pid', 'comm', 'all'].map((k) => dtoSchema(TargetDto, [k], {}, {})).map((s) => ({ ...s, required: Object.keys(s.properties as object) })),
  };
  for (const [name, s] of Object.entries(typeRequestSchemas())) out[name] = dtoSchema(s.dto, s.props, s.overrides ?? {});
  out.LabelExpression = {
    type: 'object',
    description: 'A Kubernetes set expression: In / NotIn need values (NotIn also holds for nodes without the key); Exists / DoesNotExist take none.',
    properties: {
      key: label,
      operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
      values: { type: 'array', items: label, maxItems: SELECTOR_LIMITS.values },
    },
    required: ['key', 'operator'],
    additionalProperties: false,
  };
  const limit = { type: 'integer', minimum: 1, maximum: MAX_SELECTOR_LIMIT, description: 'At most this many of the qualifying nodes (fewest active runs first, then by name); the rest are listed as skipped.' };
  out.NodeSelector = {
    description: 'Which nodes run the job. Fields are ANDed. Unreachable or gone nodes, nodes without the job type\'s capability and nodes past `limit` are skipped (listed in the job\'s `selection`).',
    oneOf: [
      { type: 'string', const: 'all' },
      { type: 'object', properties: { all: { const: true }, limit }, required: ['all'], additionalProperties: false },
      {
        type: 'object',
        properties: {
          names: { type: 'array', items: { type: 'string', pattern: NAME_RE.source }, minItems: 1, maxItems: SELECTOR_LIMITS.names },
          labels: { type: 'object', additionalProperties: label, description: 'Each label equal.' },
          expressions: arrayOf(ref('LabelExpression'), { minItems: 1, maxItems: SELECTOR_LIMITS.expressions }),
          selector: { type: 'string', maxLength: 4096, description: 'A label selector as GET /nodes?labelSelector= takes it ("env=prod,zone in (a,b),!canary"), folded into labels and expressions.' },
          limit,
        },
        anyOf: [{ required: ['names'] }, { required: ['labels'] }, { required: ['expressions'] }, { required: ['selector'] }],
        additionalProperties: false,
      },
    ],
  };
  const templates = { type: 'array', items: ref('JobTemplate'), minItems: 1, maxItems: MAX_BUNDLE, description: 'Each checked exactly as POST /jobs checks it; errors name the template (bundle[1].durationSec ...).' };
  out.IncidentRequest = dtoSchema(
    CreateIncidentDto,
    ['name', 'nodes', 'bundle', 'leadMs'],
    {
      name: { description: 'Printable characters.' },
      nodes: ref('NodeSelector'),
      bundle: templates,
      leadMs: { description: 'How far ahead the common start time is set; dispatch to every node happens within it.', default: DEFAULT_LEAD_MS },
    },
    { description: 'Jobs started together on every selected node.' },
  );
  out.ScheduleRequest = {
    ...dtoSchema(
      CreateScheduleDto,
      ['name', 'cron', 'everyMs', 'nodes', 'job', 'bundle', 'keepReports', 'leadMs'],
      {
        name: { description: 'Printable characters.' },
        cron: { description: '5 fields, or 6 with seconds first; UTC. Never firing, or firing less than 5 s apart, is a 400.' },
        everyMs: { description: 'Or a fixed interval in ms.' },
        nodes: ref('NodeSelector'),
        job: ref('JobTemplate'),
        bundle: templates,
        keepReports: { description: 'Reports kept; older ones are deleted with their jobs.', default: DEFAULT_KEEP_REPORTS },
        leadMs: { default: DEFAULT_LEAD_MS },
      },
      { description: 'An incident (one job or a bundle) on a cron pattern or an interval, with a report per tick.' },
    ),
    allOf: [{ oneOf: [{ required: ['cron'] }, { required: ['everyMs'] }] }, { oneOf: [{ required: ['job'] }, { required: ['bundle'] }] }],
  };
  return out;
}
