import { CreateBootstrapTokenDto } from '../enrollment/dto/create-bootstrap-token.dto';
import { dateTime, errors, int, jsonBody, nullable, obj, ok, op, pathParam, str, uuid, bool, type PathItem } from './build';
import { dtoSchema } from './dto-schema';

/** Fleet membership: bootstrap tokens for enrollment, and revoking a node (both need the ssl-capture scope, the admin token). */
export function fleetPaths(): Record<string, PathItem> {
  return {
    '/enrollment-tokens': {
      post: op('ssl-capture', {
        operationId: 'createEnrollmentToken',
        summary: 'A bootstrap token for enrolling nodes',
        description:
          'An agent with the fleet CA certificate and this token gets its client certificate once (Enrollment.Enroll on TRACEFLEET_ENROLL_ADDR). ' +
          'Bounded in uses (default 1) and time (default 3600 s); with `nodeName` only that node may use it, and may then replace its live certificate. ' +
          'Without `nodeName` it cannot enroll a name that holds a live certificate. The token is in this answer only (the controller stores its SHA-256).',
        tags: ['nodes'],
        requestBody: jsonBody(dtoSchema(CreateBootstrapTokenDto, ['maxUses', 'ttlSec', 'nodeName', 'description'], { maxUses: { default: 1 }, ttlSec: { default: 3600 } })),
        responses: {
          ...ok(
            'The token, shown once.',
            obj({
              id: uuid(),
              token: str('The bootstrap token: give it to the node as TRACEFLEET_ENROLLMENT_TOKEN.'),
              maxUses: int(),
              expiresAt: dateTime(),
              nodeName: nullable(str()),
              description: nullable(str()),
            }),
            'application/json',
            '201',
          ),
          ...errors(400),
        },
      }),
    },
    '/nodes/{name}': {
      delete: op('ssl-capture', {
        operationId: 'revokeNode',
        summary: 'Revoke a node',
        description:
          "Revokes every certificate issued to the node (the agent link refuses them from then on), marks the node gone and ends its live session. " +
          'Its jobs and results stay. To admit it again, enroll it with a new bootstrap token.',
        tags: ['nodes'],
        parameters: [pathParam('name', 'Node name.')],
        responses: {
          ...ok('What was revoked.', obj({ name: str(), certificatesRevoked: int(), sessionEnded: bool(), revokedAt: dateTime() })),
          ...errors(400, 404),
        },
      }),
    },
  };
}
