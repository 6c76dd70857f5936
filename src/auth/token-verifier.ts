// jose's parts, not its whole: the gateway verifies JWS tokens and never touches JWE (a smaller heap).
import type { CryptoKey, JWTPayload, JWTVerifyGetKey } from 'jose';
import * as errors from 'jose/errors';
import { createRemoteJWKSet } from 'jose/jwks/remote';
import { importSPKI } from 'jose/key/import';
import { jwtVerify } from 'jose/jwt/verify';
import { boundedCache } from '../bounded-cache.js';
import type { Config, JwtKey } from '../config/load.js';
import { UnauthorizedError } from '../errors.js';
import type { Identity } from './identity.js';
import { isUserId, SELF_SEGMENT } from './user-id.js';

export interface TokenVerifierOptions {
  key: JwtKey;
  algorithms: string[];
  userClaim: string;
  adminClaim: string;
  issuer?: string;
  audience?: string;
  clockToleranceMs: number;
  cacheSize?: number;
  now?: () => number;
}

export interface TokenVerifier {
  /** Resolves the identity or throws UnauthorizedError (`token_expired` / `token_invalid`); never anything else. */
  verify(token: string): Promise<Identity>;
  /** The identity of a token verified before and still valid, without waiting; else undefined. */
  peek(token: string): Identity | undefined;
}

export function verifierOptionsFromConfig(config: Config): TokenVerifierOptions {
  return {
    key: config.jwt_key,
    algorithms: [...config.jwt_algorithms],
    userClaim: config.jwt_user_claim,
    adminClaim: config.jwt_admin_claim,
    issuer: config.jwt_issuer,
    audience: config.jwt_audience,
    clockToleranceMs: config.jwt_clock_tolerance,
  };
}

const expired = () => new UnauthorizedError('Your session has expired; sign in again.', 'token_expired');
const invalid = () => new UnauthorizedError('Your sign-in token is not valid; sign in again.', 'token_invalid');
const keysUnavailable = () =>
  new UnauthorizedError('Your sign-in could not be checked because the signing keys are unavailable; try again in a minute.', 'token_invalid');

/** Marks a JWKS fetch problem, as opposed to a token the keys do not match. */
class KeysUnavailable extends Error {}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const now = options.now ?? Date.now;
  const allowed = new Set(options.algorithms);
  const key = keyResolver(options.key, allowed);
  // Keyed by the token itself: only tokens whose signature checked out get in,
  // and those are the LMS's own (a few hundred bytes), so hashing every
  // request's token would cost more than it saves.
  const cache = boundedCache<string, Identity>(options.cacheSize ?? 10_000);
  const peek = (token: string): Identity | undefined => {
    const hit = cache.get(token);
    return hit && now() < hit.expiresAt + options.clockToleranceMs ? hit : undefined;
  };

  return {
    peek,
    async verify(token) {
      const hit = peek(token);
      if (hit) return hit;
      if (cache.has(token)) {
        cache.delete(token);
        throw expired();
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: options.algorithms,
          requiredClaims: ['exp'],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: options.clockToleranceMs / 1000,
          currentDate: new Date(now()),
        }));
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw expired();
        if (err instanceof KeysUnavailable) throw keysUnavailable();
        throw invalid();
      }
      const identity = toIdentity(payload, options);
      cache.set(token, identity);
      return identity;
    },
  };
}

/**
 * SimpleJWT (the usual Django LMS) signs access and refresh tokens with the
 * same key and tells them apart only by `token_type`. A refresh token lives
 * for days and is meant for the LMS's refresh endpoint alone, so it never
 * opens a workspace. Tokens without the claim (other issuers) are access tokens.
 */
const ACCESS_TOKEN_TYPES: ReadonlySet<unknown> = new Set([undefined, 'access']);

function toIdentity(payload: JWTPayload, options: TokenVerifierOptions): Identity {
  const claim = (name: string): unknown => (Object.hasOwn(payload, name) ? payload[name] : undefined);
  if (!ACCESS_TOKEN_TYPES.has(claim('token_type'))) throw invalid();
  const raw = claim(options.userClaim);
  const user = typeof raw === 'string' ? raw : typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? String(raw) : undefined;
  // `me` names the caller's own workspace in every URL; a user of that name would have none.
  if (user === undefined || !isUserId(user) || user === SELF_SEGMENT) throw invalid();
  // requiredClaims guarantees exp is present and jose that it is a number.
  return { user, admin: claim(options.adminClaim) === true, expiresAt: (payload.exp ?? Infinity) * 1000 };
}

function keyResolver(key: JwtKey, allowed: Set<string>): Uint8Array | JWTVerifyGetKey {
  switch (key.kind) {
    case 'secret':
      return key.secret;
    case 'public_key': {
      // One CryptoKey per algorithm: WebCrypto binds a key to the algorithm it was imported for.
      const imported = new Map<string, Promise<CryptoKey>>();
      return ({ alg }) => {
        if (!allowed.has(alg)) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
        let pending = imported.get(alg);
        if (!pending) imported.set(alg, (pending = importSPKI(key.pem, alg)));
        return pending;
      };
    }
    case 'jwks': {
      const jwks = createRemoteJWKSet(new URL(key.url));
      return async (header, token) => {
        try {
          return await jwks(header, token);
        } catch (err) {
          if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
          throw new KeysUnavailable();
        }
      };
    }
  }
}
