import { SetMetadata } from '@nestjs/common';

export const SIGN_IN = 'tracefleet:sign-in';
/**
 * Marks the route that takes its token in the body (POST /session): the token guard lets it through and
 * the handler answers 401 itself. Not @Public(): it does need a token, and may answer 401, which public
 * routes (health, the OpenAPI document) never do.
 */
export const SignIn = (): MethodDecorator => SetMetadata(SIGN_IN, true);
