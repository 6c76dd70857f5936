import { parse } from 'cookie';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { credentialsOf, withoutCookie } from '../../src/auth/credentials.js';

const NAME = 'workspace_token';
const NAMES = { token: NAME, session: 'workspace_session' };
const ONLY = new Set([NAME]);
/** The LMS token a request brings, Bearer first (as the authenticator takes it). */
const tokenFromHeaders = (headers: IncomingHttpHeaders, _name: string) => {
  const found = credentialsOf(headers, NAMES, false);
  return found.bearer ?? found.token;
};

// Bias towards the characters that matter to cookie parsing, and the name itself.
const piece = fc.oneof(fc.string(), fc.constantFrom(NAME, ';', '=', ' ', '\t', '%', 'Bearer ', `${NAME}=`, `${NAME} `));
const header = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));

describe('credentials properties', () => {
  it('tokenFromHeaders never throws', () => {
    fc.assert(
      fc.property(fc.option(header), fc.option(header), (authorization, cookie) => {
        const token = tokenFromHeaders({ authorization: authorization ?? undefined, cookie: cookie ?? undefined }, NAME);
        expect(token === undefined || token.length > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('withoutCookie never throws and never leaves the named pair', () => {
    fc.assert(
      fc.property(fc.option(header, { nil: undefined }), (cookie) => {
        const out = withoutCookie(cookie, ONLY);
        if (out === undefined) return;
        for (const pair of out.split(';')) {
          const eq = pair.indexOf('=');
          if (eq !== -1) expect(pair.slice(0, eq).trim()).not.toBe(NAME);
        }
        expect(parse(out)[NAME]).toBeUndefined();
        expect(tokenFromHeaders({ cookie: out }, NAME)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });
});
