import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { route } from '../../src/http/route.js';
import { isUserId } from '../../src/auth/user-id.js';

describe('route', () => {
  it('maps the fixed paths', () => {
    expect(route('/healthz')).toEqual({ kind: 'health' });
    expect(route('/readyz')).toEqual({ kind: 'ready' });
    expect(route('/metrics')).toEqual({ kind: 'metrics' });
    expect(route('/api/workspaces/me?x=1')).toEqual({ kind: 'api', path: '/api/workspaces/me', query: '?x=1' });
    expect(route('/')).toEqual({ kind: 'not-found' });
    expect(route('/ws/')).toEqual({ kind: 'not-found' });
  });

  it('splits workspace paths', () => {
    expect(route('/ws/alice/a/b?c=%2F')).toEqual({ kind: 'workspace', user: 'alice', rest: '/a/b', query: '?c=%2F' });
    expect(route('/ws/alice/')).toEqual({ kind: 'workspace', user: 'alice', rest: '/', query: '' });
    expect(route('/ws/al%69ce/x')).toMatchObject({ kind: 'workspace', user: 'alice' });
    expect(route('/ws/alice?x=1')).toEqual({ kind: 'add-slash', location: '/ws/alice/?x=1' });
    expect(route('/ws/me/x?y')).toEqual({ kind: 'me', rest: '/x', query: '?y' });
    expect(route('/ws/me')).toEqual({ kind: 'me', rest: '', query: '' });
    // Case matters: `Alice` is someone else.
    expect(route('/ws/Alice/')).toMatchObject({ user: 'Alice' });
  });

  it.each([
    ['/ws/../bob/'],
    ['/ws/./bob/'],
    ['/ws/%2e%2e/bob/'],
    ['/ws/alice%2Fbob/'],
    ['/ws/alice%2fbob/'],
    ['/ws/alice%252Fbob/'],
    ['/ws/alice%5Cbob/'],
    ['/ws/alice\\bob/'],
    ['/ws/alice%00/'],
    ['/ws/%/'],
    ['/ws/%E0%A4%A/'],
    [`/ws/${'a'.repeat(64)}/`],
    ['/ws/alice/../bob/'],
    ['/ws/alice/x/%2E%2E/y'],
    ['/ws/alice/./'],
    ['ws/alice/'],
    ['http://evil/ws/alice/'],
  ])('refuses %s with 400', (path) => {
    let error: unknown;
    try {
      route(path);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(400);
  });

  // Past the user segment the path goes, as it came, to that user's own workspace only: an
  // encoded slash or `%25` there selects nothing else (code-server's own URLs carry `%2F`).
  it.each([
    ['/ws/alice/static/a%2Fb', '/static/a%2Fb'],
    ['/ws/alice/x/a%252Fb', '/x/a%252Fb'],
    ['/ws/alice/x\\y', '/x\\y'],
    ['/ws/alice/x%5Cy', '/x%5Cy'],
    ['/ws/alice/%2e%2e.txt', '/%2e%2e.txt'],
    ['/ws/alice/..a/b...', '/..a/b...'],
    ['/ws/alice/a%252e%252e/b', '/a%252e%252e/b'],
  ])("passes %s to the owner's workspace as %s", (path, rest) => {
    expect(route(path)).toEqual({ kind: 'workspace', user: 'alice', rest, query: '' });
  });

  // Dot segments are refused anywhere, however they are written or delimited.
  it.each([
    ['/ws/alice/a/%2e%2E/b'],
    ['/ws/alice/a/.%2e'],
    ['/ws/alice/a%2F..%2Fb'],
    ['/ws/alice/a%2f.%2fb'],
    ['/ws/alice/a\\..\\b'],
    ['/ws/alice/a%5C..%5Cb'],
    ['/ws/alice/a/..\\b'],
    ['/ws/alice/.'],
    ['/ws/me/../bob/'],
  ])('refuses %s with 400 bad_path', (path) => {
    expect(() => route(path)).toThrow(expect.objectContaining({ status: 400, code: 'bad_path' }));
  });

  it('never throws anything but a 400 and never selects a user other than the literal valid segment', () => {
    const segment = fc.oneof(fc.string(), fc.constantFrom('alice', 'bob', '..', '.', '%2e', '%2F', '%252F', '\\', 'me', '%61lice'));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.string(), (segments, tail) => {
        const path = '/ws/' + segments.join('/') + tail;
        let result;
        try {
          result = route(path);
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
          expect((err as GatewayError).status).toBe(400);
          return;
        }
        if (result.kind === 'workspace') {
          expect(isUserId(result.user)).toBe(true);
          // The selected user is exactly the first segment, decoded once.
          const first = path.slice(4).split(/[/?]/)[0]!;
          expect(decodeURIComponent(first)).toBe(result.user);
          expect(result.rest.startsWith('/')).toBe(true);
          expect(result.rest.split('/')).not.toContain('..');
        }
      }),
      { numRuns: 3000 },
    );
  });
});
