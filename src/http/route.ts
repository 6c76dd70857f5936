import { BadRequestError } from '../errors.js';
import { isUserId, SELF_SEGMENT } from '../auth/user-id.js';

export { SELF_SEGMENT };
export const WORKSPACE_PREFIX = '/ws/';
/** One-time launch links (SPEC §2a): `/api/launch/<code>`. */
export const LAUNCH_PREFIX = '/api/launch/';

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
 * user. The rest of the path goes, as it came, to that user's own workspace
 * only, so an encoded slash or a `%25` there can reach nothing but what the
 * user could reach anyway (code-server's own URLs carry `%2F`); dot segments
 * are refused there too, however they are written, so no workspace has to
 * get path normalisation right. Throws BadRequestError for anything malformed.
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

/**
 * `.` or `..` (any of them as `%2e`) between separators, where a separator is
 * also `\` or an encoded `/` or `\`: a workspace that decodes before it
 * normalises (or reads `\` as `/`, as WHATWG URL parsing does) would
 * otherwise see a segment the gateway did not.
 */
const DOT_SEGMENT = /(?:^|\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?:\/|\\|%2f|%5c|$)/i;

function hasDotSegment(rest: string): boolean {
  return DOT_SEGMENT.test(rest);
}
