import { isUserId, SELF_SEGMENT } from '../auth/user-id.js';
import { parseDuration } from '../config/values.js';
import { BadRequestError } from '../errors.js';

/** What a pre-warm job asks for, checked (SPEC §8). */
export interface PrewarmRequest {
  /** In the order given, each once. */
  users: string[];
  /** Epoch ms by which every workspace should be ready. */
  readyBy: number;
  /** Epoch ms until which none of them is stopped for idleness. */
  holdUntil: number;
}

export interface PrewarmLimits {
  maxUsers: number;
  maxHoldMs: number;
}

/**
 * `readyBy` this far in the past is still taken (and the job starts at once):
 * an operator's "now" or a clock a little behind. Further back is a mistake.
 */
export const PAST_TOLERANCE_MS = 60_000;
/** How far ahead a job may be planned; further is almost surely a wrong date. */
export const MAX_AHEAD_MS = 90 * 24 * 3600_000;

/** An ISO 8601 date and time with an explicit zone, as `Date.toISOString()` writes it (seconds and fractions optional). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
/** How many bad ids an error lists by name. */
const LISTED = 20;

/**
 * Reads the body of `POST /api/prewarm`. Every mistake is a 400 whose
 * sentence says what to change; nothing about the gateway changes before the
 * whole request is good.
 */
export function parsePrewarmRequest(body: unknown, limits: PrewarmLimits, now: number): PrewarmRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('The body must be a JSON object: {"users": [...], "readyBy": "<ISO time>", "holdFor": "<duration>"}.');
  const { users, readyBy, holdFor, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw invalid(`Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: expected users, readyBy and holdFor.`);

  if (!Array.isArray(users) || users.length === 0) throw invalid('"users" must be a non-empty list of user ids.');
  const bad = users.filter((u): u is unknown => typeof u !== 'string' || !isUserId(u) || u === SELF_SEGMENT);
  if (bad.length > 0) {
    const named = bad
      .slice(0, LISTED)
      .map((u) => JSON.stringify(u))
      .join(', ');
    const more = bad.length > LISTED ? ` and ${bad.length - LISTED} more` : '';
    throw new BadRequestError(`${bad.length} of the users are not valid user ids: ${named}${more}.`, 'bad_user');
  }
  const unique = [...new Set(users as string[])];
  if (unique.length > limits.maxUsers)
    throw invalid(`A pre-warm job takes at most ${limits.maxUsers} users (GATEWAY_PREWARM_MAX_USERS); this one has ${unique.length}. Split it.`);

  if (typeof readyBy !== 'string' || !ISO_TIME.test(readyBy) || Number.isNaN(Date.parse(readyBy)))
    throw invalid('"readyBy" must be an ISO 8601 time with a zone, like 2026-12-02T09:00:00Z or 2026-12-02T10:00:00+01:00.');
  const ready = Date.parse(readyBy);
  if (ready < now - PAST_TOLERANCE_MS) throw invalid(`"readyBy" (${readyBy}) is in the past; give the time the lecture starts.`, 'prewarm_in_past');
  if (ready > now + MAX_AHEAD_MS) throw invalid(`"readyBy" (${readyBy}) is more than 90 days ahead.`);

  const hold = typeof holdFor === 'string' || typeof holdFor === 'number' ? parseDuration(holdFor) : undefined;
  if (hold === undefined) throw invalid('"holdFor" must be a duration like 45s, 30m, 2h or a number of seconds.');
  if (hold > limits.maxHoldMs) throw invalid(`"holdFor" may be at most ${Math.round(limits.maxHoldMs / 60_000)} minutes (GATEWAY_PREWARM_MAX_HOLD).`);

  return { users: unique, readyBy: ready, holdUntil: ready + hold };
}

function invalid(message: string, code: 'bad_request' | 'prewarm_in_past' = 'bad_request'): BadRequestError {
  return new BadRequestError(message, code);
}
