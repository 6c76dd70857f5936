import { parseSetCookie } from 'cookie';
import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { authCookie, credentialsOf, withoutCookie } from '../../src/auth/credentials.js';

const NAME = 'workspace_token';
const NAMES = { token: NAME, session: 'workspace_session' };
const ONLY = new Set([NAME]);
/** The LMS token a request brings, Bearer first (as the authenticator takes it). */
const tokenFromHeaders = (headers: IncomingHttpHeaders, _name: string) => {
  const found = credentialsOf(headers, NAMES, false);
  return found.bearer ?? found.token;
};

describe('tokenFromHeaders', () => {
  it('prefers the bearer token over the cookie', () => {
    expect(tokenFromHeaders({ authorization: 'Bearer abc.def.ghi', cookie: `${NAME}=cookie` }, NAME)).toBe('abc.def.ghi');
  });

  it('accepts the scheme in any case', () => {
    expect(tokenFromHeaders({ authorization: 'bEaReR tok' }, NAME)).toBe('tok');
  });

  it('falls back to the cookie for other schemes or an empty bearer', () => {
    for (const authorization of ['Basic dXNlcjpwdw==', 'Bearer ', 'Bearer', '']) {
      expect(tokenFromHeaders({ authorization, cookie: `a=1; ${NAME}=fromcookie` }, NAME)).toBe('fromcookie');
    }
  });

  it('reads the named cookie only', () => {
    expect(tokenFromHeaders({ cookie: `${NAME}2=no; ${NAME}=yes` }, NAME)).toBe('yes');
    expect(tokenFromHeaders({ cookie: `${NAME}2=no` }, NAME)).toBeUndefined();
    expect(tokenFromHeaders({ cookie: `${NAME}=` }, NAME)).toBeUndefined();
    expect(tokenFromHeaders({}, NAME)).toBeUndefined();
  });

  it('returns a long token as is and lets verification refuse it', () => {
    const long = 'x'.repeat(20_000);
    expect(tokenFromHeaders({ authorization: `Bearer ${long}` }, NAME)).toBe(long);
  });

  it.each(['=;;;', 'a', '%', 'x=%E0%A4%A', `${NAME}=%E0%A4%A`, ';', '=', `${NAME}`])('does not throw on cookie header %j', (cookie) => {
    expect(() => tokenFromHeaders({ cookie }, NAME)).not.toThrow();
  });

  it('keeps an undecodable cookie value raw', () => {
    expect(tokenFromHeaders({ cookie: `${NAME}=%E0%A4%A` }, NAME)).toBe('%E0%A4%A');
  });
});

describe('withoutCookie', () => {
  it('removes the auth cookie and keeps the others in order', () => {
    expect(withoutCookie(`a=1; ${NAME}=xyz; b=2`, ONLY)).toBe('a=1; b=2');
  });

  it('removes every occurrence', () => {
    expect(withoutCookie(`${NAME}=1; a=1; ${NAME}=2;${NAME}=3`, ONLY)).toBe('a=1');
  });

  it('keeps names that merely share a prefix', () => {
    expect(withoutCookie(`${NAME}2=1; x${NAME}=2; ${NAME}=3`, ONLY)).toBe(`${NAME}2=1; x${NAME}=2`);
  });

  it('keeps other pairs byte-exact', () => {
    expect(withoutCookie(`a="q uoted" ; ${NAME}=t; b=%E0%A4%A; c==; d`, ONLY)).toBe('a="q uoted" ; b=%E0%A4%A; c==; d');
  });

  it('also removes the cookie when its name is padded, as the parser would read it', () => {
    expect(withoutCookie(`a=1; ${NAME} =t;\t${NAME}\t=u`, ONLY)).toBe('a=1');
  });

  it('returns undefined when nothing remains', () => {
    expect(withoutCookie(`${NAME}=x`, ONLY)).toBeUndefined();
    expect(withoutCookie(` ${NAME}=x; ;`, ONLY)).toBeUndefined();
    expect(withoutCookie('', ONLY)).toBeUndefined();
    expect(withoutCookie(undefined, ONLY)).toBeUndefined();
  });
});

describe('authCookie', () => {
  it('sets HttpOnly, SameSite=Lax, Path=/ and Secure when asked', () => {
    const value = authCookie(NAME, 'a.b.c', { secure: true, maxAgeSeconds: 3600 });
    expect(value.startsWith(`${NAME}=a.b.c;`)).toBe(true);
    expect(parseSetCookie(value)).toMatchObject({ name: NAME, value: 'a.b.c', httpOnly: true, sameSite: 'lax', path: '/', secure: true, maxAge: 3600 });
  });

  it('omits Secure and Max-Age when not asked', () => {
    const value = authCookie(NAME, 'a.b.c', { secure: false });
    expect(value).not.toMatch(/secure/i);
    expect(value).not.toMatch(/max-age/i);
    expect(value).toMatch(/HttpOnly/);
    expect(value).toMatch(/SameSite=Lax/);
  });
});

describe('credentialsOf: cookie tossing', () => {
  it('marks a second token cookie or a second session cookie (either spelling) as ambiguous', () => {
    expect(credentialsOf({ cookie: `${NAME}=a; ${NAME}=b` }, NAMES, false).ambiguous).toBe(true);
    expect(credentialsOf({ cookie: 'workspace_session=a; workspace_session=b' }, NAMES, false).ambiguous).toBe(true);
    expect(credentialsOf({ cookie: '__Host-workspace_session=a; workspace_session=b' }, NAMES, true).ambiguous).toBe(true);
    expect(credentialsOf({ cookie: `${NAME}=a; workspace_session=b` }, NAMES, false)).toEqual({ ambiguous: false, token: 'a', session: 'b' });
  });

  it('reads the __Host- session cookie behind HTTPS and the plain one otherwise', () => {
    expect(credentialsOf({ cookie: '__Host-workspace_session=s' }, NAMES, true).session).toBe('s');
    expect(credentialsOf({ cookie: 'workspace_session=s' }, NAMES, true).session).toBeUndefined();
    expect(credentialsOf({ cookie: '__Host-workspace_session=s' }, NAMES, false).session).toBeUndefined();
  });
});
