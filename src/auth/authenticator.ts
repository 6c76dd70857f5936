import type { IncomingMessage } from 'node:http';
import { UnauthorizedError } from '../errors.js';
import { tokenFromHeaders } from './credentials.js';
import type { Identity } from './identity.js';
import type { Config } from '../config/load.js';
import { createTokenVerifier, verifierOptionsFromConfig, type TokenVerifier } from './token-verifier.js';

export interface Authenticated {
  identity: Identity;
  /** The raw token, for the cookie hand-off of the create call; never logged. */
  token: string;
}

/** Who is asking: the token from `Authorization: Bearer` or the cookie, verified. */
export class Authenticator {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly cookieName: string,
  ) {}

  async authenticate(req: IncomingMessage): Promise<Authenticated> {
    const token = tokenFromHeaders(req.headers, this.cookieName);
    if (!token) throw new UnauthorizedError('Sign in to open your workspace.', 'token_missing');
    return { identity: await this.verifier.verify(token), token };
  }

  /** The hot path: the identity of a token already verified and still valid, or undefined. */
  known(req: IncomingMessage): Identity | undefined {
    const token = tokenFromHeaders(req.headers, this.cookieName);
    return token === undefined ? undefined : this.verifier.peek(token);
  }
}

/** The configured verifier (keys, algorithms, claims) behind the configured cookie. */
export function authenticatorOf(config: Config): Authenticator {
  return new Authenticator(createTokenVerifier(verifierOptionsFromConfig(config)), config.cookie_name);
}
