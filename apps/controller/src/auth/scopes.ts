import { ForbiddenException, SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { fingerprint, sameSecret } from './tokens';

/**
 * What a REST token may do. `jobs`: create and read jobs, nodes and their results.
 * `ssl-capture`: create ssl-capture jobs and read what they captured (TLS plaintext).
 */
export type Scope = 'jobs' | 'ssl-capture';

/** Decides which scopes a request needs; may look at the parsed body (guards run after body parsing). */
export type ScopeRule = (req: Request) => readonly Scope[];

export const REQUIRED_SCOPES = 'tracefleet:scopes';

/** The route needs these scopes besides `jobs`, or the rule decides per request. */
export const RequireScopes = (...scopes: Scope[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_SCOPES, (() => scopes) satisfies ScopeRule);
export const RequireScopesWhen = (rule: ScopeRule): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_SCOPES, rule);

export const SCOPE_BY_TARGET = 'tracefleet:scope-by-target';
/**
 * The route needs `scope` when the stored target says so (`when`): decided by the service after loading
 * it, which then throws scopeForbidden. The marker is for the OpenAPI document and its check.
 */
export const ScopeByTarget = (scope: Scope, when: string): MethodDecorator => SetMetadata(SCOPE_BY_TARGET, { scope, when });

export interface TokenSet {
  apiToken: string;
  captureToken: string;
}

/** Who presented a request, without the secret: what the audit log and the stream limits key on. */
export interface TokenIdentity {
  /** Which configured token: `api` (TRACEFLEET_API_TOKEN) or `capture` (TRACEFLEET_CAPTURE_TOKEN). */
  name: 'api' | 'capture';
  scopes: Scope[];
  /** First 16 hex digits of the token's SHA-256 (tokens.ts fingerprint). */
  fingerprint: string;
}

/**
 * The identity of a presented token, or undefined for an unknown one. Both comparisons always run
 * (constant time each), so timing tells neither whether nor which token matched.
 */
export function identify(presented: string, tokens: TokenSet): TokenIdentity | undefined {
  const isApi = sameSecret(presented, tokens.apiToken);
  const isCapture = sameSecret(presented, tokens.captureToken);
  if (isCapture) return { name: 'capture', scopes: ['jobs', 'ssl-capture'], fingerprint: fingerprint(tokens.captureToken) };
  if (isApi) return { name: 'api', scopes: ['jobs'], fingerprint: fingerprint(tokens.apiToken) };
  return undefined;
}

/** The scopes of a presented token, or undefined for an unknown one (see identify). */
export function scopesOf(presented: string, tokens: TokenSet): Scope[] | undefined {
  return identify(presented, tokens)?.scopes;
}

/** The scopes a request needs and does not have (empty when it may go on). */
export function missingScopes(have: readonly Scope[], need: readonly Scope[]): Scope[] {
  return [...new Set(['jobs' as Scope, ...need])].filter((s) => !have.includes(s));
}

export const SCOPE_TOKENS: Record<Scope, string> = {
  jobs: 'TRACEFLEET_API_TOKEN or TRACEFLEET_CAPTURE_TOKEN',
  'ssl-capture': 'TRACEFLEET_CAPTURE_TOKEN',
};

/**
 * The 403 for a token without a scope, naming the scope, the token that has it and the scopes this one
 * has: from the guard, and from services whose rule depends on stored data (deleting a schedule that
 * produced ssl-capture data).
 */
export function scopeForbidden(missing: readonly Scope[], have: readonly Scope[], what = 'this'): ForbiddenException {
  return new ForbiddenException({
    statusCode: 403,
    error: 'Forbidden',
    message: [`${what} needs the ${missing.join(', ')} scope (${missing.map((s) => SCOPE_TOKENS[s]).join('; ')}); this token has: ${have.join(', ')}`],
  });
}

/** Where the guard leaves the scopes and the identity of the authenticated token. */
export const SCOPES_KEY = 'tracefleetScopes';
export const IDENTITY_KEY = 'tracefleetToken';
export type ScopedRequest = Request & { [SCOPES_KEY]?: Scope[]; [IDENTITY_KEY]?: TokenIdentity };

/** The authenticated token's scopes, for handlers whose rules depend on the request's content. */
export const TokenScopes = createParamDecorator((_: unknown, ctx: ExecutionContext): Scope[] => ctx.switchToHttp().getRequest<ScopedRequest>()[SCOPES_KEY] ?? []);

/** The authenticated token's identity (undefined only on public routes). */
export const Token = createParamDecorator((_: unknown, ctx: ExecutionContext): TokenIdentity | undefined => ctx.switchToHttp().getRequest<ScopedRequest>()[IDENTITY_KEY]);

/** Whether these scopes may see fields that can hold secrets (redactPatterns: literal secrets written as regexes). */
export const seesSecrets = (scopes: readonly Scope[]): boolean => scopes.includes('ssl-capture');
