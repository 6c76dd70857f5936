import { BadRequestError } from '../errors.js';
import { isUserId } from '../auth/user-id.js';

export const WORKSPACE_PREFIX = '/ws/';
/** `/ws/me` is the caller's own workspace, so no user may be called `me`. */
export const SELF_SEGMENT = 'me';

export type Route =
  | { kind: 'health' }
  | { kind: 'ready' }
  | { kind: 'metrics' }
  | { kind: 'api'; path: string; query: string }
  | { kind: 'me'; rest: string; query: string }
  | { kind: 'add-slash'; location: string }
  | {
      kind: 'workspace';
      user: string;
      /** Path after `/ws/<user>`, always starting with `/`. */
      rest: string;
      /** `?…` or ''. */
      query: string;
    }
  | { kind: 'not-found' };

/**
 * Maps a raw request target to a route. The user segment is strictly
 * percent-decoded once and must then have the user-id form, so encoded
 * slashes, double encoding, backslashes and dot segments never select another
 * user. Throws BadRequestError for anything malformed.
 */
export function route(target: string | undefined): Route {
  if (!target || target[0] !== '/') throw new BadRequestError('The request path must start with "/".', 'bad_path');
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);

  if (path.startsWith(WORKSPACE_PREFIX)) return workspaceRoute(path, query);
  if (path === '/healthz') return { kind: 'health' };
  if (path === '/readyz') return { kind: 'ready' };
  if (path === '/metrics') return { kind: 'metrics' };
  if (path === '/api' || path.startsWith('/api/')) return { kind: 'api', path, query };
  return { kind: 'not-found' };
}

function workspaceRoute(path: string, query: string): Route {
  const afterPrefix = path.slice(WORKSPACE_PREFIX.length);
  const slash = afterPrefix.indexOf('/');
  const raw = slash === -1 ? afterPrefix : afterPrefix.slice(0, slash);
  const rest = slash === -1 ? '' : afterPrefix.slice(slash);
  if (raw === '') return { kind: 'not-found' };

  const user = decodeSegment(raw);
  if (!isUserId(user)) {
    throw new BadRequestError('The workspace name in the address is not a valid user id.', 'bad_user');
  }
  if (hasDotSegment(rest)) throw new BadRequestError('The path may not contain "." or ".." segments.', 'bad_path');
  if (user === SELF_SEGMENT) return { kind: 'me', rest, query };
  if (rest === '') return { kind: 'add-slash', location: `${WORKSPACE_PREFIX}${user}/${query}` };
  return { kind: 'workspace', user, rest, query };
}

function decodeSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError('The address contains broken percent-encoding.', 'bad_path');
  }
  // A `%` surviving one decode is double encoding: refuse rather than guess.
  if (decoded.includes('%')) throw new BadRequestError('The address is encoded twice.', 'bad_path');
  return decoded;
}

const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

function hasDotSegment(rest: string): boolean {
  return DOT_SEGMENT.test(rest);
}
