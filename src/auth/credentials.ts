import type { IncomingHttpHeaders } from 'node:http';
import { serialize } from 'cookie';

const BEARER = /^\s*bearer\s+(\S+)\s*$/i;

/**
 * The Cookie header without the gateway's cookies, so neither the LMS token
 * nor the session reaches the workspace. Names are compared trimmed, as the `cookie` parser reads them, so
 * `name =x` cannot slip through; every other pair is passed on as it came.
 */
export function withoutCookie(cookieHeader: string | undefined, names: ReadonlySet<string>): string | undefined {
  if (!cookieHeader) return undefined;
  const kept = cookieHeader
    .split(';')
    .map((pair) => pair.trimStart())
    .filter((pair) => {
      if (!pair) return false;
      const eq = pair.indexOf('=');
      return eq === -1 || !names.has(pair.slice(0, eq).trim());
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

/** The gateway's cookie names: the LMS token's, and the session's in both spellings (`__Host-` behind HTTPS). */
export interface CookieNames {
  token: string;
  session: string;
}

export const HOST_PREFIX = '__Host-';

/** What a request brings to say who it is. `ambiguous`: a kind of cookie came more than once (cookie tossing). */
export interface Credentials {
  bearer?: string;
  token?: string;
  session?: string;
  ambiguous: boolean;
}

/**
 * Reads every gateway cookie, not just the first of each name: a sibling
 * subdomain can plant a second one with a longer Path, which browsers send
 * first. Behind HTTPS only the `__Host-` session cookie counts (no sibling can
 * set that one), but either spelling makes a second session cookie. Never throws.
 */
export function credentialsOf(headers: IncomingHttpHeaders, names: CookieNames, secure: boolean): Credentials {
  const found: Credentials = { ambiguous: false };
  const authorization: unknown = headers.authorization;
  if (typeof authorization === 'string') found.bearer = BEARER.exec(authorization)?.[1];
  const cookie: unknown = headers.cookie;
  const header = typeof cookie === 'string' ? cookie : Array.isArray(cookie) ? cookie.filter((c) => typeof c === 'string').join('; ') : '';
  if (!header) return found;
  const hostSession = HOST_PREFIX + names.session;
  let tokens = 0;
  let sessions = 0;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (name === names.token) {
      if (++tokens === 1) found.token = cookieValue(pair.slice(eq + 1));
    } else if (name === names.session || name === hostSession) {
      if (++sessions === 1 && (name === hostSession) === secure) found.session = cookieValue(pair.slice(eq + 1));
    }
  }
  found.ambiguous = tokens > 1 || sessions > 1;
  return found;
}

function cookieValue(raw: string): string | undefined {
  let value = raw.trim();
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  if (!value) return undefined;
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
