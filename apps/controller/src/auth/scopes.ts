import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { sameSecret } from './tokens';

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

export interface TokenSet {
  apiToken: string;
  captureToken: string;
}

/**
 * The scopes of a presented token, or undefined for an unknown one. Both comparisons always run
 * (constant time each), so timing tells neither whether nor which token matched.
 */
export function scopesOf(presented: string, tokens: TokenSet): Scope[] | undefined {
  const isApi = sameSecret(presented, tokens.apiToken);
  const isCapture = sameSecret(presented, tokens.captureToken);
  if (isCapture) return ['jobs', 'ssl-capture'];
  if (isApi) return ['jobs'];
  return undefined;
}

/** The scopes a request needs and does not have (empty when it may go on). */
export function missingScopes(have: readonly Scope[], need: readonly Scope[]): Scope[] {
  return [...new Set(['jobs' as Scope, ...need])].filter((s) => !have.includes(s));
}

export const SCOPE_TOKENS: Record<Scope, string> = {
  jobs: 'TRACEFLEET_API_TOKEN or TRACEFLEET_CAPTURE_TOKEN',
  'ssl-capture': 'TRACEFLEET_CAPTURE_TOKEN',
};

/** Where the guard leaves the scopes of the authenticated token. */
export const SCOPES_KEY = 'tracefleetScopes';
export type ScopedRequest = Request & { [SCOPES_KEY]?: Scope[] };

/** The authenticated token's scopes, for handlers whose rules depend on the request's content. */
export const TokenScopes = createParamDecorator((_: unknown, ctx: ExecutionContext): Scope[] => ctx.switchToHttp().getRequest<ScopedRequest>()[SCOPES_KEY] ?? []);
