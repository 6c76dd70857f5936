import type { IncomingMessage } from 'node:http';
import { UnauthorizedError } from '../errors.js';
import { tokenFromHeaders } from './credentials.js';
import type { Identity } from './identity.js';
import type { TokenVerifier } from './token-verifier.js';

export interface Authenticated {
  identity: Identity;
  /** The raw token, for the cookie hand-off of the create call; never logged. */
  token: string;
}

export type Authenticator = (req: IncomingMessage) => Promise<Authenticated>;

/** Who is asking: the token from `Authorization: Bearer` or the cookie, verified. */
export function createAuthenticator(verifier: TokenVerifier, cookieName: string): Authenticator {
  return async (req) => {
    const token = tokenFromHeaders(req.headers, cookieName);
    if (!token) throw new UnauthorizedError('Sign in to open your workspace.', 'token_missing');
    return { identity: await verifier.verify(token), token };
  };
}

/** The user themself, or an admin. */
export function mayManage(identity: Identity, user: string): boolean {
  return identity.user === user || identity.admin;
}
