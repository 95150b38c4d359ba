import { UsdtPairDto } from './usdt.dto';
import { arrayOf, decimal, errors, eventId, int, jobId, mapOf, nullable, obj, ok, op, query, ref, str, uuid, type JobTypeOpenApi } from '../common/openapi-build';

/**
 * The usdt job type's part of the OpenAPI document: its tag, a request example, its read routes and
 * their views. A node's probe list (GET /nodes/{name}/usdt) is a node route: openapi/ writes it.
 */
export const USDT_OPENAPI: JobTypeOpenApi = {
  tag: 'USDT probe results.',
  example: { summary: 'GC pauses of a JVM', value: { type: 'usdt', durationSec: 30, target: { pid: 4242 }, preset: 'jvm-gc', nodes: { labels: { role: 'web' } } } },
  flameGraph: 'event stacks',
  requestSchemas: { UsdtPair: { dto: UsdtPairDto, props: ['label', 'begin', 'end'], overrides: { label: { description: 'Default "begin..end".' } } } },
  paths: {
    '/jobs/{id}/usdt': {
      get: op('token', {
        operationId: 'usdtResults',
        summary: 'USDT results merged across nodes',
        description: 'Hits per probe, per-pair count, mean, log2 histogram and slowest occurrences, with a per-node breakdown. 404 for a job of another type.',
        tags: ['usdt'],
        parameters: [jobId],
        responses: { ...ok('Results.', ref('UsdtResults')), ...errors(404) },
      }),
    },
    '/jobs/{id}/usdt/events': {
      get: op('token', {
        operationId: 'usdtEvents',
        summary: 'Captured probe hits with arguments, oldest first',
        tags: ['usdt'],
        parameters: [
          jobId,
          query('node', 'Only this node.'),
          query('probe', 'Only this "provider:probe".'),
          query('limit', 'Events per page.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
          query('after', 'The `next` of the previous page.', eventId),
          query('container', 'Only events of this container: its id or a prefix (4 to 64 lowercase hex digits).', { type: 'string', pattern: '^[0-9a-f]{4,64}$' }),
          query('cgroup', 'Only events of processes in this cgroup or below it.', { type: 'string', maxLength: 4096 }),
        ],
        responses: { ...ok('A page of events.', ref('UsdtEventPage')), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    UsdtResults: obj({
      jobId: uuid(),
      probes: arrayOf(obj({ probe: str(), count: int('Hits counted in the kernel.'), eventsCaptured: int(), byNode: mapOf(int()) })),
      pairs: arrayOf(
        obj({
          label: str(),
          count: int(),
          totalNs: decimal(),
          meanNs: decimal(),
          unmatchedEnds: int(),
          histogram: arrayOf(obj({ fromNs: decimal(), toNs: decimal(), count: int() }), { description: 'log2 buckets with a count.' }),
          byNode: mapOf(int()),
          slowest: arrayOf(obj({ node: str(), pid: int(), tid: int(), durationNs: decimal(), beginNs: decimal(), args: arrayOf(str()), stack: arrayOf(str()) })),
        }),
      ),
      attached: mapOf(arrayOf(str()), 'Probes attached, per node.'),
    }),
    UsdtEventPage: obj({
      events: arrayOf(obj({ id: decimal(), node: str(), probe: str(), pid: int(), tid: int(), tsNs: decimal(), args: arrayOf(decimal()), str: nullable(str('A string argument, e.g. a JVM pool name.')), cgroup: nullable(str('The cgroup the process ran in; null where not known.')), container: nullable(str('Its container id, when the cgroup path names one.')), podUid: nullable(str('Its Kubernetes pod uid, when the cgroup path names one.')) })),
      next: nullable(decimal('Pass as `after` for the next page; null on a short page.')),
    }),
  },
};
