import { CreateSessionDto } from '../session/dto/create-session.dto';
import { SESSION_COOKIE } from '../auth/cookies';
import { dateTime, errors, jsonBody, obj, ok, op, str, arrayOf, bool, type Operation, type Parameter, type PathItem, type Schema } from './build';
import { dtoSchema } from './dto-schema';

const sessionView: Schema = obj({
  token: str('Which token the session was made with: api (TRACEFLEET_API_TOKEN) or capture (TRACEFLEET_CAPTURE_TOKEN).', { enum: ['api', 'capture'] }),
  scopes: arrayOf(str(undefined, { enum: ['jobs', 'ssl-capture'] }), { description: "The token's scopes: the session has exactly these." }),
  csrfToken: str('Send it as X-CSRF-Token with every state change (POST, PUT, PATCH, DELETE) made with the cookie.'),
  expiresAt: dateTime('When the session ends unless used; each use moves it on (TRACEFLEET_SESSION_IDLE_SEC), never past TRACEFLEET_SESSION_MAX_SEC after sign-in.'),
});

const csrfHeader: Parameter = { name: 'X-CSRF-Token', in: 'header', required: true, description: 'The csrfToken of this session.', schema: { type: 'string' } };
const cookieOnly = (o: Operation): Operation => ({ ...o, security: [{ cookieAuth: ['jobs'] }] });

/** The web console's sign-in, session and sign-out (auth/session.controller.ts). */
export function sessionPaths(): Record<string, PathItem> {
  return {
    '/session': {
      post: {
        ...op('token', {
          operationId: 'createSession',
          summary: 'Sign the web console in with a token: a session cookie',
          description:
            `Answers with \`Set-Cookie: ${SESSION_COOKIE}=…; Path=/; Max-Age=…; HttpOnly; SameSite=Strict\` (and \`Secure\` over TLS, or with TRACEFLEET_SESSION_SECURE_COOKIE) ` +
            'and the CSRF token to send with state changes. The session has the scopes of the token; it ends when unused for TRACEFLEET_SESSION_IDLE_SEC (default 12 h), ' +
            'TRACEFLEET_SESSION_MAX_SEC after sign-in (default 24 h), at DELETE /session, or when the token is rotated. A wrong token is a 401 (one message whatever is wrong); ' +
            'after 10 failed sign-ins from one address within a minute that address gets 429 for the rest of the minute. A present Origin naming another host is a 403. ' +
            'Audited (session.create); the token is never stored nor logged.',
          tags: ['session'],
          requestBody: jsonBody(dtoSchema(CreateSessionDto, ['token'], {}, { description: 'TRACEFLEET_API_TOKEN or TRACEFLEET_CAPTURE_TOKEN.' })),
          responses: { ...ok('Signed in (the cookie is in Set-Cookie).', sessionView, 'application/json', '201'), ...errors(400, 403, 429) },
        }),
        // No scheme: the token is in the body.
        security: [{}],
      },
      get: cookieOnly(
        op('token', {
          operationId: 'getSession',
          summary: 'The current console session and its CSRF token (for a reloaded page)',
          description: 'Only with the session cookie: a bearer token has no session (401).',
          tags: ['session'],
          responses: ok('The session.', sessionView),
        }),
      ),
      delete: cookieOnly(
        op('token', {
          operationId: 'deleteSession',
          summary: 'Sign out: the session ends on every replica and the cookie is cleared',
          description: 'Needs X-CSRF-Token (403 without it, or with a present Origin naming another host). The old cookie value is a 401 from then on. Audited (session.delete).',
          tags: ['session'],
          parameters: [csrfHeader],
          responses: { ...ok('Signed out.', obj({ ended: bool('Whether a live session was ended.') })), ...errors(403) },
        }),
      ),
    },
  };
}
