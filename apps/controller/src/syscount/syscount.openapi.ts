import { arrayOf, decimal, errors, int, jobId, mapOf, obj, ok, op, query, ref, str, uuid, type JobTypeOpenApi } from '../common/openapi-build';

/** The syscount job type's part of the OpenAPI document: its tag, a request example, its read route and its view. */
export const SYSCOUNT_OPENAPI: JobTypeOpenApi = {
  tag: 'Syscall counts per process.',
  example: { summary: 'Syscalls of every nginx process for 10 s', value: { type: 'syscount', durationSec: 10, target: { comm: 'nginx' }, nodes: 'all' } },
  paths: {
    '/jobs/{id}/syscount': {
      get: op('token', {
        operationId: 'syscountResults',
        summary: 'Syscall counts merged across nodes: by syscall, by process, and per node',
        tags: ['syscount'],
        parameters: [jobId, query('top', 'Syscalls and processes listed.', { type: 'integer', minimum: 1, maximum: 1000, default: 50 })],
        responses: { ...ok('Results.', ref('SyscountResults')), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    SyscountResults: obj({
      jobId: uuid(),
      totals: obj({ calls: decimal(), uncounted: decimal('Calls whose (process, syscall) pair a full kernel map refused (raise maxKeys).'), callsLeftOut: decimal(), entriesLeftOut: decimal('Smallest pairs an agent summed instead of sending (over 10,000 per node).') }),
      bySyscall: arrayOf(obj({ nr: int('x86-64 syscall number.'), name: str('"syscall N" when the node did not know its name.'), count: decimal(), byNode: mapOf(decimal(), 'Calls per node.') })),
      byProcess: arrayOf(obj({ node: str(), pid: int(), comm: str(), count: decimal(), top: arrayOf(obj({ name: str(), count: decimal() }), { description: 'Its five most frequent syscalls.' }) })),
      nodes: arrayOf(obj({ node: str(), status: str(), calls: decimal(), uncounted: decimal(), entriesLeftOut: decimal(), callsLeftOut: decimal() })),
    }),
  },
};
