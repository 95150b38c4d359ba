import { ERROR_RESPONSES, ref, type PathItem, type Schema } from './build';
import { paths } from './paths';
import { fleetPaths } from './paths-fleet';
import { requestSchemas } from './request-schemas';
import { viewSchemas } from './view-schemas';
import { JOB_TYPE_DEFS } from '../job-types/registry';
import { typeTags } from './type-parts';

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  security: Record<string, string[]>[];
  tags: { name: string; description: string }[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, Schema>;
    responses: Record<string, unknown>;
    securitySchemes: Record<string, unknown>;
  };
}

const ERROR_TEXT: Record<keyof typeof ERROR_RESPONSES, string> = {
  400: 'A parameter or field is wrong; the message names it.',
  401: 'No bearer token or session cookie, an unknown token, or a session that has ended.',
  403: 'The token lacks a scope the request needs (ssl-capture: TRACEFLEET_CAPTURE_TOKEN), or a state change with the session cookie lacks X-CSRF-Token or came from another origin; the message says which.',
  404: 'No such job, node, incident, schedule or report (or a job of another type, where the output is type-specific).',
  409: 'The request does not fit the state it acts on (stopping a job that has ended); the message says why.',
  422: 'Well-formed but cannot be done: no node can run it, no samples yet, a node did not answer; the message says why.',
  429: 'Too many failed sign-ins from this address (POST /session), or this token already holds as many open event streams as it may (TRACEFLEET_SSE_STREAMS_PER_TOKEN, default 4); the message says which (close a stream first, or wait out the minute).',
};

const TAGS = {
  meta: 'Health and this document.',
  nodes: 'The fleet: agents registered on any replica.',
  jobs: `Tracing jobs: ${JOB_TYPE_DEFS.map((d) => d.name).join(', ')}.`,
  profiles: 'Flame graphs, folded stacks, pprof, speedscope, differential graphs.',
  // The job types' own tags (their <type>.openapi.ts).
  ...typeTags(),
  incidents: 'Jobs started together, merged results.',
  schedules: 'Recurring incidents and their reports.',
  audit: 'Who did what: creations and deletions, refusals and denials, reads of captured plaintext.',
  session: 'The web console: sign in with a token for an HttpOnly session cookie, sign out.',
};

/** Path items of several files; a path in both gets the methods of both. */
function mergePaths(...parts: Record<string, PathItem>[]): Record<string, PathItem> {
  const out: Record<string, PathItem> = {};
  for (const part of parts) for (const [path, item] of Object.entries(part)) out[path] = { ...out[path], ...item };
  return out;
}

/**
 * The OpenAPI 3.1 document of the REST API (served at GET /api/v1/openapi.json). Request limits come
 * from the DTOs' validation decorators; openapi.spec.ts checks that it lists exactly the routes Nest
 * registers, with the guard's access rules.
 */
export function buildOpenApi(version = '0.1.0'): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tracefleet controller',
      version,
      description:
        'Fleet-wide eBPF tracing: schedule tracing jobs on node agents and read what they captured. ' +
        'Every route needs `Authorization: Bearer <token>` except health and this document (or, for the web console, the `tf_session` cookie ' +
        'of POST /session, with X-CSRF-Token on state changes). TRACEFLEET_API_TOKEN has scope `jobs`; ' +
        'TRACEFLEET_CAPTURE_TOKEN has `jobs` and `ssl-capture` (TLS plaintext). Security requirements list the scopes a route needs ' +
        '(OpenAPI 3.1 roles); `x-tracefleet-scope-when` marks routes that need `ssl-capture` only for some bodies or targets. ' +
        '`redactPatterns` (which can hold literal secrets) appear in job params and schedule bundles only for a token with `ssl-capture`; ' +
        'without it the field is omitted and `redactPatternsHidden` gives how many patterns there are. Mutating routes and reads of captured ' +
        'plaintext are written to the audit log (GET /audit) and answer with an `X-Request-Id` header naming the entry.',
    },
    servers: [{ url: '/api/v1', description: 'This controller (every replica serves every route).' }],
    security: [{ bearer: ['jobs'] }, { cookieAuth: ['jobs'] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths: mergePaths(paths(), fleetPaths()),
    components: {
      schemas: { ...requestSchemas(), ...viewSchemas() },
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([status, name]) => [
          name,
          { description: ERROR_TEXT[Number(status) as keyof typeof ERROR_RESPONSES], content: { 'application/json': { schema: ref('Error') } } },
        ]),
      ),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'TRACEFLEET_API_TOKEN (scope jobs) or TRACEFLEET_CAPTURE_TOKEN (scopes jobs, ssl-capture).' },
        cookieAuth: {
          type: 'apiKey',
          in: 'cookie',
          name: 'tf_session',
          description:
            'A web console session (POST /session): the scopes of the token it was made with. Used only when there is no Authorization header. ' +
            'Every state change (not GET, HEAD, OPTIONS) made with it needs the header X-CSRF-Token (the session\'s csrfToken) and, when an Origin header is sent, an Origin naming this host; else 403.',
        },
      },
    },
  };
}
