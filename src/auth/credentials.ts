import type { IncomingHttpHeaders } from 'node:http';
import { parse, serialize } from 'cookie';

const BEARER = /^\s*bearer\s+(\S+)\s*$/i;

/** The request's JWT: `Authorization: Bearer` wins over the cookie. Never throws. */
export function tokenFromHeaders(headers: IncomingHttpHeaders, cookieName: string): string | undefined {
  const authorization: unknown = headers.authorization;
  if (typeof authorization === 'string') {
    const bearer = BEARER.exec(authorization)?.[1];
    if (bearer) return bearer;
  }
  const cookie: unknown = headers.cookie;
  const header = typeof cookie === 'string' ? cookie : Array.isArray(cookie) ? cookie.filter((c) => typeof c === 'string').join('; ') : '';
  if (!header) return undefined;
  try {
    return parse(header)[cookieName] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Cookie header without the auth cookie, so the token never reaches the
 * workspace. Names are compared trimmed, as the `cookie` parser reads them, so
 * `name =x` cannot slip through; every other pair is passed on as it came.
 */
export function withoutCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  const kept = cookieHeader
    .split(';')
    .map((pair) => pair.trimStart())
    .filter((pair) => {
      if (!pair) return false;
      const eq = pair.indexOf('=');
      return eq === -1 || pair.slice(0, eq).trim() !== name;
    });
  return kept.length > 0 ? kept.join('; ') : undefined;
}

export function authCookie(name: string, token: string, options: { secure: boolean; maxAgeSeconds?: number }): string {
  return serialize(name, token, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: options.secure,
    maxAge: options.maxAgeSeconds,
  });
}
