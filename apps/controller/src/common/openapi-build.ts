/**
 * Small builders for the OpenAPI document, so each path reads as one line per fact. The document is
 * plain data (no generator dependency); openapi.spec.ts checks it against the routes Nest registers.
 */

export type Schema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: Schema;
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: Schema; examples?: Record<string, { summary?: string; value: unknown }> }> };
  responses: Record<string, unknown>;
  /** Absent: the document's default (a token with scope `jobs`). `[]`: public. */
  security?: Record<string, string[]>[];
  /** Scopes a route needs depending on the request body (the guard's @RequireScopesWhen). */
  'x-tracefleet-scope-when'?: { scope: string; when: string };
}

export type PathItem = Partial<Record<'get' | 'post' | 'put' | 'patch' | 'delete', Operation>>;

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const nullable = (s: Schema): Schema => ({ oneOf: [s, { type: 'null' }] });
export const arrayOf = (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra });
export const str = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
export const int = (description?: string, extra: Schema = {}): Schema => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
export const num = (description?: string): Schema => ({ type: 'number', ...(description ? { description } : {}) });
export const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
export const dateTime = (description?: string): Schema => str(description, { format: 'date-time' });
/** 64-bit counters and ids the API writes as decimal strings (they can pass 2^53). */
export const decimal = (description?: string): Schema => str(description, { pattern: '^-?[0-9]+$' });
export const uuid = (description?: string): Schema => str(description, { format: 'uuid' });
export const mapOf = (values: Schema, description?: string): Schema => ({ type: 'object', additionalProperties: values, ...(description ? { description } : {}) });

/** An object whose listed properties are all present (views always write every field, null when unknown). */
export function obj(properties: Record<string, Schema>, opts: { optional?: string[]; description?: string; closed?: boolean } = {}): Schema {
  const required = Object.keys(properties).filter((k) => !(opts.optional ?? []).includes(k));
  return {
    type: 'object',
    ...(opts.description ? { description: opts.description } : {}),
    properties,
    ...(required.length ? { required } : {}),
    ...(opts.closed ? { additionalProperties: false } : {}),
  };
}

export const pathParam = (name: string, description: string, schema: Schema = { type: 'string' }): Parameter => ({ name, in: 'path', required: true, description, schema });
export const query = (name: string, description: string, schema: Schema = { type: 'string' }, required = false): Parameter => ({
  name,
  in: 'query',
  ...(required ? { required } : {}),
  description,
  schema,
});

export const jobId = pathParam('id', 'Job id (UUID); anything else is a 404.', { type: 'string', format: 'uuid' });
export const nodeQuery = query('node', 'Only this node (default: all nodes merged).');
/** A stored event's id, for keyset paging (a bigint, as decimal digits). */
export const eventId: Schema = { type: 'string', pattern: '^[0-9]{1,19}$' };

export const JSON_TYPE = 'application/json';
export const SVG_TYPE = 'image/svg+xml';
export const TEXT_TYPE = 'text/plain';

export function ok(description: string, schema: Schema, mediaType = JSON_TYPE, status = '200'): Record<string, unknown> {
  return { [status]: { description, content: { [mediaType]: { schema } } } };
}

export const svg = (description: string): Record<string, unknown> => ok(description, { type: 'string', description: 'An SVG document with embedded script (hover, click to zoom, search).' }, SVG_TYPE);
export const folded = (description: string): Record<string, unknown> =>
  ok(description, { type: 'string', description: 'One line per call path: frames root first, separated by ";", a space, then the count.' }, TEXT_TYPE);

export const ERROR_RESPONSES = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  422: 'Unprocessable',
  429: 'TooManyRequests',
} as const;
export type ErrorStatus = keyof typeof ERROR_RESPONSES;

/** The error responses a route can give; 401 comes with every route that needs a token (added by `op`). */
export function errors(...codes: ErrorStatus[]): Record<string, unknown> {
  return Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/${ERROR_RESPONSES[c]}` }]));
}

export function jsonBody(schema: Schema, examples?: Record<string, { summary?: string; value: unknown }>): Operation['requestBody'] {
  return { required: true, content: { [JSON_TYPE]: { schema, ...(examples ? { examples } : {}) } } };
}

export type Access = 'public' | 'token' | 'ssl-capture' | { scope: 'ssl-capture'; when: string };

/**
 * One operation. `access` says what the guard wants: public (no token), a token (scope `jobs`), the
 * `ssl-capture` scope always, or only when the body asks for it. 401 (and 403 where a scope can be
 * missing) are added here, so no route forgets them.
 */
export function op(access: Access, o: Omit<Operation, 'security' | 'x-tracefleet-scope-when'>): Operation {
  const out: Operation = { ...o, responses: { ...o.responses } };
  if (access === 'public') {
    out.security = [];
    return out;
  }
  Object.assign(out.responses, errors(401));
  if (access === 'ssl-capture') {
    out.security = [{ bearer: ['jobs', 'ssl-capture'] }, { cookieAuth: ['jobs', 'ssl-capture'] }];
    Object.assign(out.responses, errors(403));
  } else if (typeof access === 'object') {
    out['x-tracefleet-scope-when'] = access;
    Object.assign(out.responses, errors(403));
  }
  out.responses = Object.fromEntries(Object.entries(out.responses).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

/**
 * A job type's own part of the document (JobTypeDef.docs.openapi), written in its folder; openapi/
 * merges the parts in registry order. Every part is optional.
 */
export interface JobTypeOpenApi {
  /** The description of its tag (the tag is the type's name). */
  tag?: string;
  /** A POST /jobs example. */
  example?: { summary: string; value: unknown };
  /** What its job flame graph counts (GET /jobs/{id}/flamegraph.svg lists each type's). */
  flameGraph?: string;
  /** Its own read routes. */
  paths?: Record<string, PathItem>;
  /** The views its routes return, and those its run and job fields refer to. */
  schemas?: Record<string, Schema>;
  /** Request classes its fields nest (e.g. usdt's pairs), published as schemas built from their decorators like the request's. */
  requestSchemas?: Record<string, { dto: Function; props: string[]; overrides?: Record<string, Schema> }>;
  /** Fields its runs add to each run in GET /jobs/{id} (JobTypeDef.view.run); optional in the Run schema. */
  runFields?: Record<string, Schema>;
  /** Fields it adds to the job in GET /jobs/{id} (JobTypeDef.view.job); optional in the Job schema. */
  jobFields?: Record<string, Schema>;
}
