import { status } from '@grpc/grpc-js';
import { EnrollError } from '../enrollment/bootstrap-token';

/**
 * What an agent is told when its Register is not taken: a refusal (EnrollError: the certificate, the
 * protocol version, another agent holding the name) with its reason; anything else (the database,
 * Redis) as UNAVAILABLE without the error's text, which stays in the controller's log, so internals
 * do not reach agents and the agent retries with its backoff.
 */
export function registrationFailure(err: Error): { code: status; details: string; refused: boolean } {
  if (err instanceof EnrollError) return { code: err.code, details: err.message, refused: true };
  return { code: status.UNAVAILABLE, details: 'the controller could not record this registration (its log says why); retrying', refused: false };
}

/**
 * Why a session's stream ended, from its 'error' event: an Error's message, or the `details` of the status object
 * this replica emits itself to end a stream (shutting down, revoked, results not stored), which has no message.
 */
export function sessionErrorText(err: { message?: unknown; details?: unknown; code?: unknown }): string {
  if (typeof err?.message === 'string' && err.message) return err.message;
  if (typeof err?.details === 'string' && err.details) return err.details;
  return typeof err?.code === 'number' ? `gRPC status ${status[err.code] ?? err.code}` : 'stream error';
}
