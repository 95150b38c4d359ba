import { arrayOf, bool, dateTime, decimal, errors, int, jobId, mapOf, nullable, num, obj, ok, op, query, ref, str, uuid, type JobTypeOpenApi, type Schema } from '../common/openapi-build';

const counts = (names: string[]): Record<string, Schema> => Object.fromEntries(names.map((n) => [n, int()]));

/** The memleak job type's part of the OpenAPI document: its tag, a request example, its read route and its views. */
export const MEMLEAK_OPENAPI: JobTypeOpenApi = {
  tag: 'Outstanding allocations by stack.',
  example: { summary: 'Outstanding allocations of a process, every 10 s', value: { type: 'memleak', durationSec: 60, intervalSec: 10, target: { pid: 4242 }, nodes: 'all' } },
  flameGraph: 'outstanding bytes at the latest snapshot',
  paths: {
    '/jobs/{id}/memleak': {
      get: op('token', {
        operationId: 'memleakResults',
        summary: 'Snapshots per node and top stacks by outstanding bytes, with growth; merged across nodes',
        tags: ['memleak'],
        parameters: [jobId, query('top', 'Stacks listed per node and merged.', { type: 'integer', minimum: 1, maximum: 1000, default: 50 })],
        responses: { ...ok('Results.', ref('MemleakResults')), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    LeakStack: obj(
      {
        frames: arrayOf(str(), { description: 'Root first.' }),
        bytes: decimal(),
        count: int(),
        oldestAgeMs: int(),
        growthBytes: decimal('Change across the snapshots.'),
        growing: bool(),
        byNode: mapOf(decimal(), 'Merged only: bytes per node.'),
        series: arrayOf(decimal(), { description: "A node's top only: the stack's outstanding bytes at each of that node's snapshots, in their order." }),
      },
      { optional: ['byNode', 'series'] },
    ),
    MemleakResults: obj({
      jobId: uuid(),
      mode: str(undefined, { enum: ['user', 'kernel'] }),
      sampled: bool(),
      scale: num('Multiply sampled bytes and counts by this to estimate the whole.'),
      note: nullable(str()),
      nodes: arrayOf(
        obj({
          node: str(),
          snapshots: arrayOf(
            obj({ seq: int(), takenAt: dateTime(), final: bool(), totalBytes: decimal(), ...counts(['totalCount', 'allocsSeen', 'allocsTraced', 'untracked', 'stackErrors']) }),
          ),
          top: arrayOf(ref('LeakStack')),
        }),
      ),
      merged: obj({ totalBytes: decimal(), top: arrayOf(ref('LeakStack')) }),
    }),
  },
};
