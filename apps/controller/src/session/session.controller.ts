import { Body, Controller, Delete, Get, HttpCode, Inject, Post, Req, Res, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ENV, type ControllerEnv } from '../config/env';
import { Audit } from '../audit/audit.decorator';
import { ConsoleSessionService, sessionView, type SessionView } from '../auth/console-session.service';
import { clearSessionCookie, readSessionCookie, sessionSetCookie } from '../auth/cookies';
import { originForbidden, originMatchesHost } from '../auth/csrf';
import { CreateSessionDto } from './dto/create-session.dto';
import { IDENTITY_KEY, SCOPES_KEY } from '../auth/scopes';
import { SESSION_KEY, type SessionRequest } from '../auth/session-auth';
import { SignIn } from '../auth/sign-in.decorator';

/** The peer this process sees (X-Forwarded-For is not trusted: no proxy setting says it may be). */
const remoteOf = (req: Request): string => req.socket?.remoteAddress ?? 'unknown';

/**
 * Web console sign-in and sign-out. The browser holds only an HttpOnly cookie; the session (in
 * PostgreSQL) has the identity and scopes of the token it was made with.
 */
@Controller('session')
export class SessionController {
  constructor(
    private readonly sessions: ConsoleSessionService,
    @Inject(ENV) private readonly env: ControllerEnv,
  ) {}

  /** Secure when this request came over TLS to this process, or when the operator says a TLS proxy is in front. */
  private secure(req: Request): boolean {
    return req.secure || this.env.sessionSecureCookie;
  }

  @Post()
  @SignIn()
  @HttpCode(201)
  @Audit('session.create', 'session')
  async create(@Body() dto: CreateSessionDto, @Req() req: SessionRequest, @Res({ passthrough: true }) res: Response): Promise<SessionView> {
    // Another site's page must not sign this browser in (to a session of the attacker's choosing).
    if (!originMatchesHost(req.headers.origin, req.headers.host)) throw originForbidden();
    const { cookie, session } = await this.sessions.signIn(dto.token, remoteOf(req));
    // The audit entry (session.create) names the token that signed in.
    req[IDENTITY_KEY] = session.identity;
    req[SCOPES_KEY] = session.identity.scopes;
    // A session this browser held before is ended, not left alive beside the new one.
    const previous = readSessionCookie(req.headers.cookie);
    if (previous.kind === 'ok') await this.sessions.endCookie(previous.value);
    res.setHeader('Set-Cookie', sessionSetCookie(cookie, this.env.sessionMaxSec, this.secure(req)));
    res.setHeader('Cache-Control', 'no-store');
    return sessionView(session);
  }

  /** The current cookie session (so a reloaded page gets its CSRF token back); 401 without one. */
  @Get()
  current(@Req() req: SessionRequest, @Res({ passthrough: true }) res: Response): SessionView {
    const session = req[SESSION_KEY];
    if (!session) throw new UnauthorizedException('no console session on this request (the session cookie, not a bearer token)');
    res.setHeader('Cache-Control', 'no-store');
    return sessionView(session);
  }

  /** Signs out: the session ends in PostgreSQL (every replica refuses its cookie) and the browser drops the cookie. */
  @Delete()
  @HttpCode(200)
  @Audit('session.delete', 'session')
  async end(@Req() req: SessionRequest, @Res({ passthrough: true }) res: Response): Promise<{ ended: boolean }> {
    const session = req[SESSION_KEY];
    if (!session) throw new UnauthorizedException('no console session on this request (the session cookie, not a bearer token)');
    const ended = await this.sessions.end(session.id);
    res.setHeader('Set-Cookie', clearSessionCookie(this.secure(req)));
    res.setHeader('Cache-Control', 'no-store');
    return { ended };
  }
}
