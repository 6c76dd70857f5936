import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RuntimeEvent, WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { pollEvents } from '../../src/runtimes/swarm/task-events.js';

const logger = pino({ level: 'silent' });

/** Listings handed out one per call, the last one repeated; a `null` listing fails. */
function listings(...each: (WorkspaceInfo[] | null)[]) {
  let i = 0;
  return async () => {
    const next = each[Math.min(i++, each.length - 1)];
    if (next === null) throw new Error('the manager did not answer');
    return next!;
  };
}

async function eventsOf(
  list: () => Promise<WorkspaceInfo[]>,
  count: number,
  nudges: AsyncIterable<unknown> = (async function* () {})(),
): Promise<RuntimeEvent[]> {
  const stop = new AbortController();
  const seen: RuntimeEvent[] = [];
  const timeout = setTimeout(() => stop.abort(), 3_000);
  for await (const event of pollEvents(list, nudges, 10, stop.signal, logger)) {
    seen.push(event);
    if (seen.length === count) stop.abort();
  }
  clearTimeout(timeout);
  return seen;
}

const running = (user: string, id = `t-${user}`): WorkspaceInfo => ({ user, state: 'running', id });

describe('swarm events from listings', () => {
  it('says died (with the reason), stopped and removed for what changed, with the instance that was running', async () => {
    const list = listings(
      [running('ann'), running('bob'), running('cid')],
      [
        { user: 'ann', state: 'error', id: 't-ann', reason: 'exited with code 137' },
        { user: 'bob', state: 'stopped', id: 't-bob' },
      ],
    );
    expect(await eventsOf(list, 3)).toEqual([
      { kind: 'died', user: 'ann', id: 't-ann', reason: 'exited with code 137' },
      { kind: 'stopped', user: 'bob', id: 't-bob' },
      { kind: 'removed', user: 'cid', id: 't-cid' },
    ]);
  });

  it('is quiet while nothing changes and a new task replaced a running one; a workspace back from error, or a failed listing, is a gap', async () => {
    const list = listings(
      [running('ann'), { user: 'bob', state: 'error', id: 't-bob', reason: 'its host is unavailable' }],
      [running('ann', 't-ann-2'), { user: 'bob', state: 'stopped', id: 't-bob' }],
      null,
      [running('ann', 't-ann-2'), { user: 'bob', state: 'stopped', id: 't-bob' }],
    );
    expect(await eventsOf(list, 2)).toEqual([{ kind: 'gap' }, { kind: 'gap' }]);
  });

  it('lists at once when the manager reports a change, not only on the interval', async () => {
    let calls = 0;
    const list = async () => {
      calls++;
      return calls < 2 ? [running('ann')] : [{ user: 'ann', state: 'stopped' as const, id: 't-ann' }];
    };
    const stop = new AbortController();
    async function* nudges() {
      await new Promise((ok) => setTimeout(ok, 50));
      yield 'service update';
    }
    const began = Date.now();
    for await (const event of pollEvents(list, nudges(), 60_000, stop.signal, logger)) {
      expect(event).toEqual({ kind: 'stopped', user: 'ann', id: 't-ann' });
      stop.abort();
    }
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});
