import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/errors.js';
import { parsePrewarmRequest } from '../../src/prewarm/prewarm-request.js';

const limits = { maxUsers: 5, maxHoldMs: 2 * 3600_000 };
const now = Date.parse('2026-12-02T08:00:00Z');
const good = { users: ['ana', 'ben', 'ana', '42'], readyBy: '2026-12-02T09:00:00Z', holdFor: '30m' };

function refusal(body: unknown): BadRequestError {
  try {
    parsePrewarmRequest(body, limits, now);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('the request was taken');
}

describe('a pre-warm request', () => {
  it('is read in order, each user once, with the hold counted from readyBy', () => {
    expect(parsePrewarmRequest(good, limits, now)).toEqual({
      users: ['ana', 'ben', '42'],
      readyBy: Date.parse('2026-12-02T09:00:00Z'),
      holdUntil: Date.parse('2026-12-02T09:30:00Z'),
    });
    // Zones other than Z, and holdFor in plain seconds.
    expect(parsePrewarmRequest({ ...good, readyBy: '2026-12-02T10:00+01:00', holdFor: 60 }, limits, now).holdUntil).toBe(Date.parse('2026-12-02T09:01:00Z'));
  });

  it('starting now (or a moment ago, a clock behind) is fine; a time clearly past is a 400 that says so', () => {
    expect(parsePrewarmRequest({ ...good, readyBy: '2026-12-02T07:59:30Z' }, limits, now).readyBy).toBe(now - 30_000);
    const past = refusal({ ...good, readyBy: '2026-12-02T07:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.code).toBe('prewarm_in_past');
    expect(past.message).toMatch(/in the past/);
  });

  it('lists the invalid user ids', () => {
    const err = refusal({ ...good, users: ['ana', '../bob', 'me', 7, 'x y'] });
    expect(err.code).toBe('bad_user');
    expect(err.message).toBe('4 of the users are not valid user ids: "../bob", "me", 7, "x y".');
  });

  it.each([
    ['not an object', [1, 2], /JSON object/],
    ['no users', { ...good, users: [] }, /non-empty list/],
    ['too many users', { ...good, users: ['a', 'b', 'c', 'd', 'e', 'f'] }, /at most 5 users \(GATEWAY_PREWARM_MAX_USERS\); this one has 6/],
    ['a date without a time', { ...good, readyBy: '2026-12-02' }, /ISO 8601 time with a zone/],
    ['a time without a zone', { ...good, readyBy: '2026-12-02T09:00:00' }, /ISO 8601 time with a zone/],
    ['a time in words', { ...good, readyBy: 'tomorrow 9am' }, /ISO 8601/],
    ['an impossible date', { ...good, readyBy: '2026-13-40T09:00:00Z' }, /ISO 8601/],
    ['too far ahead', { ...good, readyBy: '2028-01-01T09:00:00Z' }, /90 days/],
    ['a hold that is not a duration', { ...good, holdFor: 'long' }, /duration like 45s/],
    ['a hold too long', { ...good, holdFor: '3h' }, /at most 120 minutes \(GATEWAY_PREWARM_MAX_HOLD\)/],
    ['an unknown field', { ...good, ready_by: 'x' }, /Unknown field "ready_by"/],
  ])('refuses %s with a 400 saying what to change', (_name, body, message) => {
    const err = refusal(body);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });
});
