import { describe, expect, it } from 'vitest';
import { CapacityError } from '../../src/errors.js';
import { evictionFor } from '../../src/workspaces/capacity.js';
import type { Workspace } from '../../src/workspaces/workspace.js';

const MINUTE = 60_000;
const now = 100 * MINUTE;

function runningSince(user: string, lastActivity: number): Workspace {
  return { user, state: 'running', confirmed: true, lastActivity };
}

describe('making room for a spawn', () => {
  const three = [runningSince('a', now - 5 * MINUTE), runningSince('b', now - 40 * MINUTE), runningSince('c', now - 20 * MINUTE)];

  it('lets every spawn through without a limit, and below the limit', () => {
    expect(evictionFor('d', three, { maxRunning: 0 }, now)).toBeUndefined();
    expect(evictionFor('d', three, { maxRunning: 4 }, now)).toBeUndefined();
    // The user's own workspace does not take a place from itself.
    expect(evictionFor('a', three, { maxRunning: 3 }, now)).toBeUndefined();
  });

  it('when full, names the least recently active workspace idle long enough', () => {
    expect(evictionFor('d', three, { maxRunning: 3, evictIdleAfterMs: 30 * MINUTE }, now)?.user).toBe('b');
  });

  it('when full and nobody idle long enough (or eviction off), refuses with the "full" answer', () => {
    expect(() => evictionFor('d', three, { maxRunning: 3, evictIdleAfterMs: 60 * MINUTE }, now)).toThrow(CapacityError);
    expect(() => evictionFor('d', three, { maxRunning: 3 }, now)).toThrow('All 3 workspace places are in use right now.');
  });

  it('counts starting workspaces as taking a place, but never stops one', () => {
    const starting: Workspace = { user: 'e', state: 'creating', confirmed: false, pending: new Promise(() => {}) };
    const stopped: Workspace = { user: 'f', state: 'stopped', confirmed: true, lastActivity: 0 };
    const limits = { maxRunning: 2, evictIdleAfterMs: 0 };
    expect(evictionFor('d', [starting, stopped, runningSince('a', now)], limits, now)?.user).toBe('a');
    expect(() => evictionFor('d', [starting, { ...starting, user: 'g' }], limits, now)).toThrow(CapacityError);
  });
});
