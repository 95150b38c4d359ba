import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { EnrollError } from '../enrollment/bootstrap-token';
import { registrationFailure, sessionErrorText } from './registration-failure';

describe('what an agent is told when its registration is not taken', () => {
  it('a refusal keeps its code and reason', () => {
    assert.deepEqual(registrationFailure(new EnrollError(status.ALREADY_EXISTS, 'node n is already connected')), {
      code: status.ALREADY_EXISTS,
      details: 'node n is already connected',
      refused: true,
    });
  });

  it('any other failure is UNAVAILABLE (retried) and its text stays on the controller', () => {
    const f = registrationFailure(new Error('Invalid `prisma.$queryRaw()` invocation: column "instanceId" does not exist'));
    assert.equal(f.code, status.UNAVAILABLE);
    assert.equal(f.refused, false);
    assert.doesNotMatch(f.details, /prisma|column|instanceId/);
  });

  it("names why a session's stream ended: an error's message, else the details of the status this replica emitted", () => {
    assert.equal(sessionErrorText(new Error('14 UNAVAILABLE: read ECONNRESET')), '14 UNAVAILABLE: read ECONNRESET');
    assert.equal(sessionErrorText({ code: status.UNAVAILABLE, details: 'controller replica r1 is shutting down; connect to another' }), 'controller replica r1 is shutting down; connect to another');
    assert.equal(sessionErrorText({ code: status.PERMISSION_DENIED }), 'gRPC status PERMISSION_DENIED');
    assert.equal(sessionErrorText({}), 'stream error');
  });
});
