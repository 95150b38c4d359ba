import { BadRequestException, ForbiddenException, HttpException, UnprocessableEntityException } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { CreateJobDto } from '../jobs/dto/create-job.dto';

export const MAX_BUNDLE = 16;

/** A template is a job body without `nodes`; the incident's (or schedule's) selector applies to all. */
export type JobTemplate = Omit<CreateJobDto, 'nodes'>;

/** The messages of class-validator errors as Nest's ValidationPipe words them: nested fields get their path. */
function flatten(errors: ValidationError[], path: string, out: string[] = []): string[] {
  for (const e of errors) {
    out.push(...Object.values(e.constraints ?? {}).map((m) => (path ? `${path}.${m}` : m)));
    if (e.children?.length) flatten(e.children, path ? `${path}.${e.property}` : e.property, out);
  }
  return out;
}

function bad(messages: string[]): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: messages });
}

/**
 * Checks job templates with exactly the rules of POST /jobs (the same DTO and options as the global
 * ValidationPipe); messages name the template, e.g. "bundle[1].durationSec must not be less than 1".
 * The type-specific rules (job-spec.ts) and node selection follow in JobsService.plan.
 */
export async function parseTemplates(raw: unknown, field: string): Promise<CreateJobDto[]> {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_BUNDLE) bad([`${field} must be an array of 1 to ${MAX_BUNDLE} job templates`]);
  const out: CreateJobDto[] = [];
  const messages: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const at = `${field}[${i}]`;
    const t: unknown = raw[i];
    if (typeof t !== 'object' || t === null || Array.isArray(t)) {
      messages.push(`${at} must be a job body (an object with type, durationSec, target, ...)`);
      continue;
    }
    if ('nodes' in t) {
      messages.push(`${at}.nodes is not allowed in a template: the selector given beside it applies to every job`);
      continue;
    }
    // `nodes` only satisfies the DTO here; the real selector is checked once, by parseNodeSelector.
    const dto = plainToInstance(CreateJobDto, { ...(t as object), nodes: 'all' });
    const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
    messages.push(...flatten(errors, '').map((m) => `${at}.${m}`));
    out.push(dto);
  }
  if (messages.length) bad(messages);
  return out;
}

/** Whether any template captures TLS plaintext (then the request needs the ssl-capture scope). */
export function templatesNeedCapture(...lists: unknown[]): boolean {
  return lists.some((l) => {
    const items = Array.isArray(l) ? l : l !== undefined ? [l] : [];
    return items.some((t) => typeof t === 'object' && t !== null && (t as { type?: unknown }).type === 'ssl-capture');
  });
}

/**
 * Re-words an error of one template's planning so it names the template: a field error becomes
 * "bundle[1].target.pid ...", a 422 (no node can run it) "bundle[1] (memleak): nodes: ...".
 */
export function inTemplate(err: unknown, field: string, i: number, type: string): unknown {
  if (!(err instanceof HttpException)) return err;
  const raw = err.getResponse();
  const res = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const msgs = Array.isArray(res.message) ? (res.message as string[]) : [String(res.message ?? err.message)];
  // Other fields of the answer (e.g. the skipped nodes of a 422) stay as they were.
  if (err instanceof BadRequestException) return new BadRequestException({ ...res, statusCode: 400, error: 'Bad Request', message: msgs.map((m) => `${field}[${i}].${m}`) });
  if (err instanceof UnprocessableEntityException) {
    return new UnprocessableEntityException({ ...res, statusCode: 422, error: 'Unprocessable Entity', message: msgs.map((m) => `${field}[${i}] (${type}): ${m}`) });
  }
  if (err instanceof ForbiddenException) return new ForbiddenException({ ...res, statusCode: 403, error: 'Forbidden', message: msgs.map((m) => `${field}[${i}]: ${m}`) });
  return err;
}
