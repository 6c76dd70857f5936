import { Readable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { CapacityError, SpawnTimeoutError, WorkspaceNotRunningError } from '../../src/errors.js';
import { WorkspaceManager, type WorkspaceManagerOptions } from '../../src/workspaces/manager.js';
import type { SpawnProgress } from '../../src/workspaces/spawn-progress.js';
import { answeringEditor, FakeRuntime } from '../support/fake-runtime.js';

const logger = pino({ level: 'silent' });

const editor = answeringEditor();

/** A manager on a FakeRuntime whose starts are recorded with the signal they were given. */
function setup(options: Partial<WorkspaceManagerOptions> = {}) {
  const runtime = new FakeRuntime(editor.endpoint);
  const starts: Array<{ user: string; signal?: AbortSignal }> = [];
  const start = runtime.start.bind(runtime);
  runtime.start = (user, startOptions) => {
    starts.push({ user, signal: startOptions?.signal });
    return start(user, startOptions);
  };
  const manager = new WorkspaceManager({ runtime, spawnTimeoutMs: 5000, maxRunning: 0, maxConcurrentSpawns: 4, logger, ...options });
  return { runtime, manager, starts };
}

describe('the workspace manager', () => {
  it("spawns once for 20 concurrent wakes, and tells the runtime's progress in the gateway's words", async () => {
    const { manager, starts } = setup();
    const heard: SpawnProgress[] = [];
    manager.onProgress((user, progress) => user === 'ana' && heard.push(progress));
    const endpoints = await Promise.all(Array.from({ length: 20 }, () => manager.wake('ana')));
    expect(starts).toHaveLength(1);
    expect(endpoints).toEqual(Array(20).fill(editor.endpoint));
    expect(heard.map((p) => p.phase)).toEqual(['starting', 'waiting', 'ready']);
    expect(heard[0]).toEqual({ phase: 'starting', message: 'starting' });
    expect(manager.get('ana')).toMatchObject({ state: 'running', confirmed: true, lastActivityKind: 'start' });
    expect(manager.endpointOf('ana')).toEqual(editor.endpoint);
  });

  it('whenRunning waits for a spawn in flight without starting another', async () => {
    const { runtime, manager, starts } = setup();
    runtime.startDelayMs = 200;
    const woken = manager.wake('ana');
    await vi.waitFor(() => expect(starts).toHaveLength(1));
    const waiting = manager.whenRunning('ana');
    expect(await waiting).toEqual(editor.endpoint);
    expect(await woken).toEqual(editor.endpoint);
    expect(starts).toHaveLength(1);
  });

  it('whenRunning throws for a stopped workspace, and never starts it', async () => {
    const { runtime, manager, starts } = setup();
    runtime.workspaces.set('bo', { user: 'bo', state: 'stopped', id: 'c1' });
    // Not known yet: the engine is asked once.
    await expect(manager.whenRunning('bo')).rejects.toBeInstanceOf(WorkspaceNotRunningError);
    // Known to be down: refused at once.
    await expect(manager.whenRunning('bo')).rejects.toBeInstanceOf(WorkspaceNotRunningError);
    await manager.wake('ana');
    await manager.stop('ana', 'idle');
    await expect(manager.whenRunning('ana')).rejects.toBeInstanceOf(WorkspaceNotRunningError);
    expect(starts.map((s) => s.user)).toEqual(['ana']);
  });

  it("the spawn deadline aborts the runtime's start; the workspace is then error with a sentence", async () => {
    const { runtime, manager, starts } = setup({ spawnTimeoutMs: 300 });
    // The fake hears the abort only when its start ends, as a runtime that first undoes what it began.
    runtime.startDelayMs = 600;
    await expect(manager.wake('ana')).rejects.toBeInstanceOf(SpawnTimeoutError);
    // The caller's deadline counts from its call, the start's from the spawn's start: a moment later.
    const [start] = starts;
    await vi.waitFor(() => expect(start!.signal?.aborted).toBe(true));
    expect(manager.get('ana')?.state).toBe('creating');
    await vi.waitFor(() => expect(manager.get('ana')?.state).toBe('error'));
    expect(runtime.workspaces.has('ana')).toBe(false);
    expect(start!.signal?.reason).toBeInstanceOf(SpawnTimeoutError);
    expect(manager.get('ana')?.reason).toMatch(/^The workspace did not become ready within \d+ seconds; .+\.$/);
    expect(manager.get('ana')?.progress?.phase).toBe('failed');
    // The next page load tries again (error → creating).
    runtime.startDelayMs = 0;
    expect(await manager.wake('ana')).toEqual(editor.endpoint);
  });

  it('a start that finishes in time is not aborted afterwards', async () => {
    const { manager, starts } = setup({ spawnTimeoutMs: 300 });
    await manager.wake('ana');
    await new Promise((r) => setTimeout(r, 400));
    expect(starts[0]!.signal?.aborted).toBe(false);
  });

  it('lists again after a gap in the engine events, and follows other events meanwhile', async () => {
    const { runtime, manager } = setup();
    const watching = new AbortController();
    const watched = manager.watch(watching.signal);
    await manager.wake('ana');
    await manager.wake('bo');
    const down: string[] = [];
    manager.onDown((user, reason) => down.push(`${user}: ${reason}`));
    runtime.emit({ kind: 'died', user: 'bo', id: runtime.workspaces.get('bo')!.id, reason: 'exited with code 137' });
    await vi.waitFor(() => expect(manager.get('bo')?.state).toBe('error'));
    // Removed while the stream was broken: only a listing can tell.
    runtime.workspaces.delete('ana');
    const lists = runtime.calls.list;
    runtime.emit({ kind: 'gap' });
    await vi.waitFor(() => expect(manager.get('ana')?.state).toBe('absent'));
    expect(runtime.calls.list).toBe(lists + 1);
    expect(down).toEqual(['bo: exited with code 137', 'ana: removed outside the gateway']);
    watching.abort();
    await watched;
  });

  it('stops the least recently active workspace to make room, telling its listeners first', async () => {
    const { runtime, manager } = setup({ maxRunning: 1, evictIdleAfterMs: 0 });
    await manager.wake('ana');
    const told: string[] = [];
    manager.onStopping((user, reason) => told.push(`stopping ${user}: ${reason} (engine stops so far: ${runtime.calls.stop})`));
    manager.onDown((user, reason, where) => told.push(`down ${user}: ${reason} at ${JSON.stringify(where)}`));
    await manager.wake('bo');
    expect(told).toEqual([
      `stopping ana: stopped to make room (engine stops so far: 0)`,
      `down ana: stopped to make room at ${JSON.stringify(editor.endpoint)}`,
    ]);
    expect(manager.get('ana')).toMatchObject({ state: 'stopped', reason: 'stopped to make room' });
    expect(runtime.workspaces.get('ana')?.state).toBe('stopped');
  });

  it('refuses a spawn when full and nobody may be evicted, without asking the runtime to start', async () => {
    const { manager, starts } = setup({ maxRunning: 1 });
    await manager.wake('ana');
    await expect(manager.wake('bo')).rejects.toBeInstanceOf(CapacityError);
    expect(starts.map((s) => s.user)).toEqual(['ana']);
  });

  it('typed listeners: an unsubscribed one hears nothing more; a stop is told before and after', async () => {
    const { manager } = setup();
    const progress: string[] = [];
    const unsubscribe = manager.onProgress((user, p) => progress.push(`${user} ${p.phase}`));
    await manager.wake('ana');
    unsubscribe();
    await manager.wake('bo');
    expect(progress).toEqual(['ana starting', 'ana waiting', 'ana ready']);
    const told: string[] = [];
    manager.onStopping((user, reason) => told.push(`stopping ${user} ${reason} ${manager.get(user)?.state}`));
    manager.onDown((user, reason, where) => told.push(`down ${user} ${reason} ${where === undefined ? 'nowhere' : 'had an endpoint'}`));
    await manager.stop('ana', 'stopped by the user');
    // Already stopped: no second "down".
    await manager.stop('ana', 'stopped by the user');
    expect(told).toEqual([
      'stopping ana stopped by the user running',
      'down ana stopped by the user had an endpoint',
      'stopping ana stopped by the user stopped',
    ]);
  });

  it('prepares, backs up and restores through the runtime; without storage a 501 with a sentence', async () => {
    const { runtime, manager } = setup();
    await manager.prepare();
    expect(runtime.calls.prepare).toBe(1);
    await expect(manager.backup('ana')).rejects.toMatchObject({
      code: 'no_storage',
      status: 501,
      message: expect.stringMatching(/^This runtime keeps no files the gateway can read\b.*\.$/),
    });
    await expect(manager.restore('ana', Readable.from([]))).rejects.toMatchObject({ code: 'no_storage' });
    const restored: string[] = [];
    runtime.storage = {
      exists: async () => true,
      backup: async (user) => Readable.from([`files of ${user}`]),
      restore: async (user) => void restored.push(user),
    };
    expect((await (await manager.backup('ana')).toArray()).join('')).toBe('files of ana');
    await manager.restore('ana', Readable.from([]));
    expect(restored).toEqual(['ana']);
  });

  it('a listing the engine answered before a stop is stale for it: the stop and its reason stand', async () => {
    const { manager, runtime } = setup();
    await manager.wake('ana');
    // The engine's listing is taken now (ana running) and answered only after the stop below.
    let answer!: () => void;
    const list = runtime.list.bind(runtime);
    runtime.list = async () => {
      const taken = structuredClone(await list());
      await new Promise<void>((go) => (answer = go));
      return taken;
    };
    const reconciling = manager.reconcile();
    await manager.stop('ana', 'idle');
    answer();
    await reconciling;
    expect(manager.get('ana')).toMatchObject({ state: 'stopped', reason: 'idle' });
    expect(manager.endpointOf('ana')).toBeUndefined();
    // The next listing, begun after the stop, is taken as the engine says.
    runtime.list = list;
    await manager.reconcile();
    expect(manager.get('ana')).toMatchObject({ state: 'stopped', reason: 'idle' });
  });
});
