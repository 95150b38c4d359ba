import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getMetadataStorage } from 'class-validator';
import { SharedJobFields } from '../common/job-fields';
import { JobType } from '../generated/prisma/enums';
import { JOB_TYPE_DEFS, dbJobType, jobTypeDef, typesTaking } from './registry';

describe('job types registry', () => {
  it('names every type the API validates and the database stores, once, in the same order', () => {
    const names = JOB_TYPE_DEFS.map((d) => d.name);
    assert.deepEqual(names.map(dbJobType), Object.values(JobType));
    for (const n of names) assert.equal(jobTypeDef(dbJobType(n))?.name, n);
    assert.equal(jobTypeDef('nope'), undefined);
  });

  it('every type has a StartRun spec of its own and documents each of its fields', () => {
    const cases = new Set<string>();
    for (const d of JOB_TYPE_DEFS) {
      for (const f of d.fields) assert.ok(f in d.docs.fields, `${d.name}: field ${f} has no docs`);
      assert.ok(d.docs.description.length > 20, `${d.name} has a description`);
      cases.add(d.spec(d.params({ type: d.name, durationSec: 10, target: d.name === 'memleak' ? { pid: 1 } : d.name === 'usdt' ? { pid: 1 } : { all: true }, ...(d.name === 'usdt' ? { preset: 'python-gc' } : {}) }) as Record<string, unknown>).$case);
    }
    assert.equal(cases.size, JOB_TYPE_DEFS.length, 'one StartRun case per type');
  });

  it("each type's fields are exactly its own DTO class's and the shared ones; no two types declare a field", () => {
    const props = (cls: Function): Set<string> => new Set(getMetadataStorage().getTargetValidationMetadatas(cls, '', false, false).map((m) => m.propertyName));
    const shared = props(SharedJobFields);
    const seen = new Map<string, string>();
    for (const d of JOB_TYPE_DEFS) {
      const own = props(d.dto);
      // A type whose fields are all shared (oomkill: maxEvents) has an empty DTO class; any other validates its own.
      assert.ok(own.size > 0 || d.fields.every((f) => shared.has(f)), `${d.name}: its DTO class validates something`);
      assert.deepEqual(new Set(d.fields.filter((f) => !shared.has(f))), own, `${d.name}: fields vs ${d.dto.name}`);
      for (const f of own) {
        assert.ok(!seen.has(f), `${f} declared by ${seen.get(f)} and ${d.name}: declare it once in common/job-fields.ts`);
        seen.set(f, d.name);
      }
    }
  });

  it('says which types take a shared field', () => {
    assert.deepEqual(typesTaking('maxEvents'), ['usdt', 'ssl-capture', 'tcp', 'oomkill', 'exec-open']);
    assert.deepEqual(typesTaking('maxKeys'), ['syscount']);
  });
});
