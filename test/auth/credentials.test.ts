import { parseSetCookie } from 'cookie';
import { describe, expect, it } from 'vitest';
import { authCookie, tokenFromHeaders, withoutCookie } from '../../src/auth/credentials.js';

const NAME = 'workspace_token';

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
    expect(withoutCookie(`a=1; ${NAME}=xyz; b=2`, NAME)).toBe('a=1; b=2');
  });

  it('removes every occurrence', () => {
    expect(withoutCookie(`${NAME}=1; a=1; ${NAME}=2;${NAME}=3`, NAME)).toBe('a=1');
  });

  it('keeps names that merely share a prefix', () => {
    expect(withoutCookie(`${NAME}2=1; x${NAME}=2; ${NAME}=3`, NAME)).toBe(`${NAME}2=1; x${NAME}=2`);
  });

  it('keeps other pairs byte-exact', () => {
    expect(withoutCookie(`a="q uoted" ; ${NAME}=t; b=%E0%A4%A; c==; d`, NAME)).toBe('a="q uoted" ; b=%E0%A4%A; c==; d');
  });

  it('also removes the cookie when its name is padded, as the parser would read it', () => {
    expect(withoutCookie(`a=1; ${NAME} =t;\t${NAME}\t=u`, NAME)).toBe('a=1');
  });

  it('returns undefined when nothing remains', () => {
    expect(withoutCookie(`${NAME}=x`, NAME)).toBeUndefined();
    expect(withoutCookie(` ${NAME}=x; ;`, NAME)).toBeUndefined();
    expect(withoutCookie('', NAME)).toBeUndefined();
    expect(withoutCookie(undefined, NAME)).toBeUndefined();
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
