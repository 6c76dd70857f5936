import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IdlePolicy } from '../../src/workspaces/idle-policy.js';
import { WorkspaceManager } from '../../src/workspaces/manager.js';
import { FakeRuntime } from '../support/fake-runtime.js';

const logger = pino({ level: 'silent' });
const MINUTE = 60_000;

function setup(count: number) {
  const runtime = new FakeRuntime({ host: '127.0.0.1', port: 1 });
  for (let i = 0; i < count; i++) {
    runtime.workspaces.set(`user${i}`, { user: `user${i}`, state: 'running', id: `c${i}`, endpoint: runtime.endpoint });
  }
  const manager = new WorkspaceManager({ runtime, spawnTimeoutMs: 1000, maxRunning: 0, maxConcurrentSpawns: 8, logger });
  let clock = Date.now();
  const policy = new IdlePolicy({ manager, idleTimeoutMs: 30 * MINUTE, removeAfterMs: 7 * 24 * 60 * MINUTE, logger, now: () => clock });
  return { runtime, manager, policy, advance: (ms: number) => (clock += ms), now: () => clock };
}

describe('idle policy', () => {
  it('stops only the idle workspaces among 10,000, with one engine listing per sweep', async () => {
    const { runtime, manager, policy, advance, now } = setup(10_000);
    await manager.reconcile();
    // Idle clocks start at reconcile; everyone but five keeps working.
    advance(31 * MINUTE);
    for (let i = 5; i < 10_000; i++) manager.touch(`user${i}`, 'request', now());
    const listsBefore = runtime.calls.list;
    const started = performance.now();
    const result = await policy.sweep();
    const ms = performance.now() - started;
    console.log(`sweep over 10,000 workspaces: ${ms.toFixed(1)} ms`);
    expect(result.stopped.sort()).toEqual(['user0', 'user1', 'user2', 'user3', 'user4']);
    expect(runtime.calls.list - listsBefore).toBe(1);
    expect(runtime.calls.stop).toBe(5);
    expect(runtime.calls.inspect).toBe(0);
    expect(manager.get('user0')).toMatchObject({ state: 'stopped', reason: 'idle' });
    expect(manager.get('user5')?.state).toBe('running');
  });

  it('removes containers stopped longer than the removal age, never their volumes', async () => {
    const { runtime, manager, policy, advance, now } = setup(2);
    await manager.reconcile();
    await manager.stop('user0', 'test');
    advance(6 * 24 * 60 * MINUTE);
    manager.touch('user1', 'request', now());
    expect((await policy.sweep()).removed).toEqual([]);
    advance(2 * 24 * 60 * MINUTE);
    manager.touch('user1', 'request', now());
    const result = await policy.sweep();
    expect(result.removed).toEqual(['user0']);
    expect(runtime.calls.remove).toBe(1);
    expect(runtime.workspaces.has('user0')).toBe(false);
  });

  it('learns when a workspace found stopped at start-up stopped, before removing it', async () => {
    const { runtime, policy } = setup(0);
    runtime.workspaces.set('old', { user: 'old', state: 'stopped', id: 'c', finishedAt: new Date(Date.now() - 8 * 24 * 60 * MINUTE) });
    runtime.workspaces.set('recent', { user: 'recent', state: 'stopped', id: 'd', finishedAt: new Date(Date.now() - MINUTE) });
    // The listing has no stop times (as Docker's); the sweep asks the engine about each once.
    const list = runtime.list.bind(runtime);
    runtime.list = async () => (await list()).map(({ finishedAt: _, ...info }) => info);
    const result = await policy.sweep();
    expect(result.removed).toEqual(['old']);
    expect(runtime.calls.inspect).toBe(2);
    await policy.sweep();
    expect(runtime.calls.inspect).toBe(2);
  });

  it('survives an engine outage and catches up afterwards', async () => {
    const { runtime, manager, policy, advance } = setup(3);
    await manager.reconcile();
    advance(31 * MINUTE);
    runtime.down();
    const during = await policy.sweep();
    expect(during).toMatchObject({ stopped: [], errors: 1 });
    runtime.up();
    const after = await policy.sweep();
    expect(after.stopped.sort()).toEqual(['user0', 'user1', 'user2']);
  });
});
