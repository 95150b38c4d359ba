import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Request } from 'express';
import { AppModule } from '../app.module';
import type { ControllerEnv } from '../config/env';
import { IS_PUBLIC } from '../auth/public.decorator';
import { REQUIRED_SCOPES, SCOPE_BY_TARGET, type ScopeRule } from '../auth/scopes';
import { CreateJobDto, JOB_TYPES } from '../jobs/dto/create-job.dto';
import { typeParams } from '../jobs/job-spec';
import { parseNodeSelector } from '../nodes/selector';
import type { Operation, Schema } from './build';
import { dtoProperties, fieldSchema } from './dto-schema';
import { buildOpenApi } from './openapi';
import { OpenApiController } from './openapi.controller';
import { JOB_TYPE_FIELDS, SELECTOR_LIMITS, requestName, templateName } from './request-schemas';
import { nestRoutes, type NestRoute } from './routes';

const doc = buildOpenApi();
const app = AppModule.forEnv({} as ControllerEnv);
// AppModule's own controllers and those of the modules it imports (a job type's module, e.g. SyscountModule).
const controllers = [
  ...((app.controllers ?? []) as Function[]),
  ...(app.imports ?? []).flatMap((m) => ('module' in (m as object) ? ((m as { controllers?: Function[] }).controllers ?? []) : ((Reflect.getMetadata('controllers', m) ?? []) as Function[]))),
];
const routes = nestRoutes(controllers);
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item as Record<string, Operation>)
    .filter(([m]) => METHODS.includes(m))
    .map(([method, op]) => ({ path, method, op })),
);
const key = (r: { method: string; path: string }): string => `${r.method.toUpperCase()} ${r.path}`;
const opOf = (r: NestRoute): Operation => (doc.paths[r.path] as Record<string, Operation>)[r.method];

/** Resolves a local JSON pointer (#/components/schemas/Job) in the document. */
function resolve(pointer: string): unknown {
  assert.ok(pointer.startsWith('#/'), `only local $refs: ${pointer}`);
  return pointer
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((at, seg) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[seg] : undefined), doc);
}

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('the OpenAPI document', () => {
  it('lists every route Nest registers, and nothing else', () => {
    assert.ok(routes.length >= 30, `found only ${routes.length} routes: is every controller in AppModule?`);
    const documented = new Set(operations.map(key));
    const registered = new Set(routes.map(key));
    assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], 'routes missing from the document');
    assert.deepEqual([...documented].filter((d) => !registered.has(d)), [], 'documented routes the app does not have');
    assert.equal(registered.size, routes.length, 'no two handlers share a route');
  });

  it('is OpenAPI 3.1 with responses on every operation, unique operation ids and declared path parameters', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.info.title && doc.info.version);
    assert.equal(doc.servers[0].url, '/api/v1');
    const ids = operations.map((o) => o.op.operationId);
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    for (const { path, method, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      const codes = Object.keys(op.responses ?? {});
      assert.ok(codes.some((c) => /^2\d\d$/.test(c)), `${where} has a success response`);
      for (const c of codes) assert.match(c, /^[1-5]\d\d$/, `${where}: response key ${c}`);
      assert.ok(op.summary && op.tags.length > 0, `${where} has a summary and a tag`);
      for (const t of op.tags) assert.ok(doc.tags.some((d) => d.name === t), `${where}: tag ${t} is declared`);
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort();
      assert.deepEqual(declared, inTemplate, `${where}: path parameters`);
      for (const p of op.parameters ?? []) if (p.in === 'path') assert.equal(p.required, true, `${where}: ${p.name} is required`);
      const names = (op.parameters ?? []).map((p) => `${p.in}:${p.name}`);
      assert.equal(new Set(names).size, names.length, `${where}: no parameter twice`);
      // An action on what the path names (stop) takes no body.
      if (method === 'post' && !path.endsWith('/stop')) assert.ok(op.requestBody, `${where} documents its body`);
    }
  });

  it('resolves every $ref', () => {
    const all = refs(doc);
    assert.ok(all.length > 50);
    for (const r of new Set(all)) assert.ok(resolve(r) !== undefined, `${r} resolves`);
  });

  it('is plain JSON (no undefined, no RegExp objects) and is what the controller serves', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
    assert.deepEqual(new OpenApiController().document(), doc);
  });

  it('gives each route the access the token guard enforces', () => {
    const bodies = [{}, { type: 'ssl-capture' }, { bundle: [{ type: 'ssl-capture' }] }, { job: { type: 'ssl-capture' } }];
    for (const r of routes) {
      const op = opOf(r);
      const where = key(r);
      const isPublic = Reflect.getMetadata(IS_PUBLIC, r.handler) ?? Reflect.getMetadata(IS_PUBLIC, r.controller);
      if (isPublic) {
        assert.deepEqual(op.security, [], `${where} is public`);
        assert.equal(op.responses['401'], undefined, `${where}: no 401`);
        continue;
      }
      assert.notDeepEqual(op.security, [], `${where} needs a token`);
      assert.ok(op.responses['401'], `${where} documents 401`);
      const rule = (Reflect.getMetadata(REQUIRED_SCOPES, r.handler) ?? Reflect.getMetadata(REQUIRED_SCOPES, r.controller)) as ScopeRule | undefined;
      const needs = bodies.map((body) => (rule ? rule({ body } as Request) : []).includes('ssl-capture'));
      const scopes = (op.security ?? doc.security).flatMap((s) => s.bearer ?? []);
      const byTarget = Reflect.getMetadata(SCOPE_BY_TARGET, r.handler) as { scope: string } | undefined;
      if (byTarget) {
        assert.ok(!needs[0] && !scopes.includes(byTarget.scope), `${where} needs ${byTarget.scope} only for some targets`);
        assert.equal(op['x-tracefleet-scope-when']?.scope, byTarget.scope, `${where} says when it needs ${byTarget.scope}`);
        assert.ok(op.responses['403'], `${where} documents 403`);
      } else if (needs[0]) {
        assert.ok(scopes.includes('ssl-capture'), `${where} always needs ssl-capture`);
        assert.ok(op.responses['403'], `${where} documents 403`);
      } else if (needs.some(Boolean)) {
        assert.ok(!scopes.includes('ssl-capture'), `${where} needs ssl-capture only for some bodies`);
        assert.ok(op['x-tracefleet-scope-when']?.scope === 'ssl-capture', `${where} says when it needs ssl-capture`);
        assert.ok(op.responses['403'], `${where} documents 403`);
      } else {
        assert.ok(!scopes.includes('ssl-capture') && !op['x-tracefleet-scope-when'], `${where} needs no ssl-capture scope`);
      }
    }
  });

  it('documents the 429 of every event stream, and redactPatterns only for the ssl-capture scope', () => {
    for (const { path, method, op } of operations) {
      const streams = Object.values(op.responses).some((r) => JSON.stringify(r).includes('text/event-stream'));
      if (streams) assert.ok(op.responses['429'], `${method.toUpperCase()} ${path} is an event stream and documents 429`);
    }
    assert.ok(doc.components.responses.TooManyRequests);
    const job = doc.components.schemas.Job as { properties: { params: { description: string; properties: Record<string, unknown> } } };
    assert.match(job.properties.params.description, /redactPatterns` only for a token with the ssl-capture scope/);
    assert.ok(job.properties.params.properties.redactPatternsHidden);
    // Examples are shown to anyone (the document is public): none carries a pattern that could be a real secret.
    assert.doesNotMatch(JSON.stringify(doc.paths), /"redactPatterns":\[/);
  });

  it('documents every field of the job DTO in the job types that accept it', () => {
    const schemas = doc.components.schemas;
    const documented = new Set(JOB_TYPES.flatMap((t) => Object.keys((schemas[templateName(t)] as { properties: object }).properties)));
    const dtoFields = dtoProperties(CreateJobDto).map((p) => p.name);
    assert.deepEqual(dtoFields.filter((f) => f !== 'nodes' && !documented.has(f)), [], 'DTO fields missing from the document');
    assert.deepEqual([...documented].filter((f) => !dtoFields.includes(f)), [], 'documented fields the DTO does not have');
    for (const t of JOB_TYPES) {
      const props = (schemas[templateName(t)] as { properties: Record<string, Schema> }).properties;
      for (const [f, s] of Object.entries(props)) {
        if ('$ref' in s || f === 'type') continue;
        const dto = fieldSchema(CreateJobDto, f);
        for (const k of ['maximum', 'maxItems', 'maxLength', 'pattern', 'enum'] as const) assert.deepEqual(s[k], dto[k], `${t}.${f}.${k}`);
        // A type may be stricter than the DTO (ssl-capture's maxEvents ≥ 1), never looser.
        if (dto.minimum !== undefined) assert.ok((s.minimum as number) >= (dto.minimum as number), `${t}.${f}.minimum`);
      }
    }
    for (const t of JOB_TYPES) {
      const required = [...(schemas[requestName(t)] as { required: string[] }).required].sort();
      assert.deepEqual(required, ['durationSec', 'nodes', 'target', 'type'], `${t}: what POST /jobs requires`);
    }
  });

  it('says which fields each job type accepts as job-spec.ts decides it', () => {
    const sample = (f: string): unknown => {
      const s = fieldSchema(CreateJobDto, f);
      return s.type === 'array' ? [] : s.type === 'boolean' ? true : s.type === 'string' ? '/x' : 1;
    };
    const fields = [...new Set(Object.values(JOB_TYPE_FIELDS).flat())];
    for (const t of JOB_TYPES) {
      for (const f of fields) {
        const dto = { type: t, durationSec: 10, target: { pid: 1 }, nodes: 'all', [f]: sample(f) } as unknown as CreateJobDto;
        let message = '';
        try {
          typeParams(dto);
        } catch (e) {
          message = JSON.stringify((e as { getResponse?: () => unknown }).getResponse?.() ?? (e as Error).message);
        }
        const refused = message.includes(`${f} applies only to`);
        assert.equal(refused, !JOB_TYPE_FIELDS[t].includes(f), `${t} ${JOB_TYPE_FIELDS[t].includes(f) ? 'accepts' : 'refuses'} ${f}`);
      }
    }
  });

  it('states the node selector limits parseNodeSelector enforces', () => {
    const at = (n: number, ok: boolean, make: (n: number) => unknown): void => {
      const run = (): unknown => parseNodeSelector(make(n));
      if (ok) run();
      else assert.throws(run, `${n} must be refused`);
    };
    const names = (n: number) => ({ names: Array.from({ length: n }, (_, i) => `n${i}`) });
    const exprs = (n: number) => ({ expressions: Array.from({ length: n }, () => ({ key: 'k', operator: 'Exists' })) });
    const values = (n: number) => ({ expressions: [{ key: 'k', operator: 'In', values: Array.from({ length: n }, (_, i) => `v${i}`) }] });
    for (const [limit, make] of [
      [SELECTOR_LIMITS.names, names],
      [SELECTOR_LIMITS.expressions, exprs],
      [SELECTOR_LIMITS.values, values],
    ] as const) {
      at(limit, true, make);
      at(limit + 1, false, make);
    }
  });
});
