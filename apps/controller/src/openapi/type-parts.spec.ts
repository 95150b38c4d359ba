import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOB_TYPE_DEFS } from '../job-types/registry';
import type { Operation } from './build';

// The parts are merged with Object.assign: a route, schema or view field two types both wrote would
// silently keep the last one.
describe("the job types' OpenAPI parts", () => {
  it('write no route, schema, run field or job field twice', () => {
    for (const key of ['paths', 'schemas', 'requestSchemas', 'runFields', 'jobFields'] as const) {
      const owner = new Map<string, string>();
      for (const d of JOB_TYPE_DEFS) {
        for (const name of Object.keys(d.docs.openapi?.[key] ?? {})) {
          assert.ok(!owner.has(name), `${key} ${name}: written by ${owner.get(name)} and ${d.name}`);
          owner.set(name, d.name);
        }
      }
    }
  });

  it('tag their routes with their own tag, which they describe', () => {
    for (const d of JOB_TYPE_DEFS) {
      for (const [path, item] of Object.entries(d.docs.openapi?.paths ?? {})) {
        for (const op of Object.values(item) as Operation[]) assert.ok(op.tags.includes(d.name), `${d.name}: ${path} is tagged ${op.tags.join(', ')}`);
        assert.ok(d.docs.openapi?.tag, `${d.name} writes routes and describes its tag`);
      }
    }
  });
});
