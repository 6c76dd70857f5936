import type { IncomingMessage } from 'node:http';
import { serialize } from 'cookie';
import { boundedCache } from '../bounded-cache.js';
import type { Config } from '../config/load.js';
import { BadRequestError, UnauthorizedError } from '../errors.js';
import { credentialsOf, HOST_PREFIX, type CookieNames, type Credentials } from './credentials.js';
import type { Identity } from './identity.js';
import { Sessions, type Session } from './sessions.js';
import { createTokenVerifier, verifierOptionsFromConfig, type TokenVerifier } from './token-verifier.js';

export interface Authenticated {
  identity: Identity;
  /** The gateway session the request belongs to: its own, or one just started because an LMS token let it in. */
  session: Session;
  /** A `Set-Cookie` value for the answer: the session just started or renewed. */
  setCookie?: string;
}

export interface AuthenticatorDeps {
  verifier: TokenVerifier;
  sessions: Sessions;
  names: CookieNames;
  /** Whether the browser came over HTTPS (the session cookie is then `Secure` and `__Host-`). */
  secure: (req: IncomingMessage) => boolean;
}

const ambiguous = () =>
  new BadRequestError(
    'This request carries more than one sign-in for the gateway (another site may have planted one). Clear this site’s cookies and open your workspace again from the LMS.',
    'ambiguous_credentials',
  );
const missing = () => new UnauthorizedError('Sign in to open your workspace.', 'token_missing');
const sessionEnded = () => new UnauthorizedError('Your session has ended; open your workspace again from the LMS.', 'session_expired');

/**
 * Who is asking. An LMS token (`Authorization: Bearer`, or the token cookie)
 * is the way in and starts a gateway session; the session cookie carries the
 * browser from then on (SPEC §2a). Bearer wins (it is what the caller chose
 * to send); a token cookie beside a session must name the same user.
 */
export class Authenticator {
  readonly sessions: Sessions;
  /**
   * The session each LMS token started, so a client that keeps sending the
   * token (a script, a browser before it stored the session) keeps one
   * session instead of minting one per request; only verified tokens get in.
   */
  private readonly byToken = boundedCache<string, Authenticated>(10_000);

  constructor(private readonly deps: AuthenticatorDeps) {
    this.sessions = deps.sessions;
  }

  async authenticate(req: IncomingMessage): Promise<Authenticated> {
    const found = this.credentials(req);
    if (found.ambiguous) throw ambiguous();
    const { verifier, sessions } = this.deps;
    if (found.bearer) return this.started(req, await verifier.verify(found.bearer), found.bearer);
    const session = found.session === undefined ? undefined : sessions.read(found.session);
    if (found.token) {
      // A stale token cookie beside a live session is ignored; alone, its refusal is the answer.
      const identity = await verifier.verify(found.token).catch((err: unknown) => {
        if (session) return undefined;
        throw err;
      });
      if (identity && session && identity.user !== session.user) throw ambiguous();
      if (identity && !session) return this.started(req, identity, found.token);
    }
    if (session) return this.continued(req, session);
    throw found.session === undefined ? missing() : sessionEnded();
  }

  /** The hot path: what `authenticate` would answer, when it can be known without waiting; else undefined. */
  known(req: IncomingMessage): Authenticated | undefined {
    const found = this.credentials(req);
    if (found.ambiguous) return undefined;
    const { verifier, sessions } = this.deps;
    if (found.bearer) {
      const identity = verifier.peek(found.bearer);
      return identity && this.started(req, identity, found.bearer);
    }
    const session = found.session === undefined ? undefined : sessions.read(found.session);
    if (found.token) {
      const identity = verifier.peek(found.token);
      if (!identity || (session && identity.user !== session.user)) return undefined;
      if (!session) return this.started(req, identity, found.token);
    }
    return session && this.continued(req, session);
  }

  /** Ends the session the request belongs to, and answers the cookies that forget it. */
  logout(req: IncomingMessage, session: Session): string[] {
    this.sessions.end(session);
    const secure = this.deps.secure(req);
    return [this.cookie(secure, '', 0), serialize(this.deps.names.token, '', { httpOnly: true, sameSite: 'lax', path: '/', secure, maxAge: 0 })];
  }

  private credentials(req: IncomingMessage): Credentials {
    return credentialsOf(req.headers, this.deps.names, this.deps.secure(req));
  }

  /** A session for someone a launch link vouched for. */
  launched(req: IncomingMessage, identity: Pick<Identity, 'user' | 'admin'>): Authenticated {
    return this.started(req, identity);
  }

  private started(req: IncomingMessage, token: Pick<Identity, 'user' | 'admin'>, raw?: string): Authenticated {
    const sessions = this.deps.sessions;
    const key = raw === undefined ? undefined : (this.deps.secure(req) ? 's' : 'p') + raw;
    const known = key === undefined ? undefined : this.byToken.get(key);
    if (known && sessions.isLive(known.session)) {
      sessions.touch(known.session.id);
      return known;
    }
    const session = sessions.start(token);
    const auth = { identity: this.identityOf(session), session, setCookie: this.sessionCookie(req, session) };
    if (key !== undefined) this.byToken.set(key, auth);
    return auth;
  }

  private continued(req: IncomingMessage, session: Session): Authenticated {
    const sessions = this.deps.sessions;
    sessions.touch(session.id);
    const renewed = sessions.renewal(session);
    if (!renewed) return { identity: this.identityOf(session), session };
    return { identity: this.identityOf(renewed), session: renewed, setCookie: this.sessionCookie(req, renewed) };
  }

  private identityOf(session: Session): Identity {
    return { user: session.user, admin: session.admin, expiresAt: this.deps.sessions.endsAt(session) };
  }

  private sessionCookie(req: IncomingMessage, session: Session): string {
    const sessions = this.deps.sessions;
    return this.cookie(this.deps.secure(req), sessions.encode(session), sessions.cookieMaxAge(session));
  }

  private cookie(secure: boolean, value: string, maxAge: number): string {
    const name = secure ? HOST_PREFIX + this.deps.names.session : this.deps.names.session;
    return serialize(name, value, { httpOnly: true, sameSite: 'lax', path: '/', secure, maxAge });
  }
}

/** The configured verifier (keys, algorithms, claims), sessions and cookie names. */
export function authenticatorOf(config: Config, secure: (req: IncomingMessage) => boolean): Authenticator {
  return new Authenticator({
    verifier: createTokenVerifier(verifierOptionsFromConfig(config)),
    sessions: new Sessions({ key: config.session_key, idleMs: config.session_idle, maxAgeMs: config.session_max_age }),
    names: cookieNamesOf(config),
    secure,
  });
}

export function cookieNamesOf(config: Config): CookieNames {
  return { token: config.cookie_name, session: config.session_cookie_name };
}

/** Every cookie name the gateway owns: never passed to a workspace, never set by one. */
export function gatewayCookies(names: CookieNames): ReadonlySet<string> {
  return new Set([names.token, names.session, HOST_PREFIX + names.session]);
}
