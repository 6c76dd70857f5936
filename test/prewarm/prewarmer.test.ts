import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { FileJobStore, type JobStore } from '../../src/prewarm/job-store.js';
import type { PrewarmJob } from '../../src/prewarm/prewarm-job.js';
import { Prewarmer } from '../../src/prewarm/prewarmer.js';
import { WorkspaceHolds } from '../../src/workspaces/holds.js';
import { IdlePolicy } from '../../src/workspaces/idle-policy.js';
import { WorkspaceManager } from '../../src/workspaces/manager.js';
import { answeringEditor, FakeRuntime } from '../support/fake-runtime.js';

const logger = pino({ level: 'silent' });
const editor = answeringEditor();

class MemoryStore implements JobStore {
  saved: PrewarmJob[] = [];
  saves = 0;
  failWith?: Error;
  async load() {
    return structuredClone(this.saved);
  }
  async save(jobs: PrewarmJob[]) {
    if (this.failWith) throw this.failWith;
    this.saves++;
    this.saved = structuredClone(jobs);
  }
}

function setup({ maxRunning = 0, concurrency = 4, store = new MemoryStore() as JobStore, runtime = new FakeRuntime(editor.endpoint) } = {}) {
  const holds = new WorkspaceHolds();
  const manager = new WorkspaceManager({ runtime, spawnTimeoutMs: 5000, maxRunning, maxConcurrentSpawns: concurrency, holds, logger });
  const prewarmer = new Prewarmer({
    manager,
    holds,
    store,
    limits: { maxUsers: 100, maxHoldMs: 3600_000 },
    maxConcurrentSpawns: concurrency,
    maxRunning,
    logger,
  });
  return { runtime, manager, holds, prewarmer, store };
}

const users = (n: number, prefix = 'u') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

async function untilSettled(prewarmer: Prewarmer, id: string): Promise<PrewarmJob> {
  return vi.waitFor(
    () => {
      const job = prewarmer.get(id);
      expect(job.state, 'job state').not.toMatch(/scheduled|starting/);
      return job;
    },
    { timeout: 10_000, interval: 20 },
  );
}

describe('pre-warm jobs', () => {
  it('start the roster in order within the capacity: the first five ready and held, the other three skipped with the reason', async () => {
    const store = new MemoryStore();
    const { prewarmer, runtime, holds } = setup({ maxRunning: 5, concurrency: 8, store });
    const { job, beyondCapacity } = await prewarmer.create({ users: users(8), readyBy: inSeconds(0), holdFor: '10m' }, 'prof');
    expect(beyondCapacity).toBe(3);
    const done = await untilSettled(prewarmer, job.id);
    expect(done.state).toBe('holding');
    expect(done.users.map((u) => u.state)).toEqual(['ready', 'ready', 'ready', 'ready', 'ready', 'skipped', 'skipped', 'skipped']);
    expect(done.users[5]!.reason).toBe('no free place: all 5 workspace places (GATEWAY_MAX_RUNNING) are in use');
    expect(runtime.calls.start).toBe(5);
    expect(holds.until('u1')).toBe(done.holdUntil);
    expect(holds.until('u6')).toBeUndefined();
    // What was saved is what is answered.
    await vi.waitFor(() => expect(store.saved[0]?.users.map((u) => u.state)).toEqual(done.users.map((u) => u.state)));
  });

  it('count a workspace that already runs as ready, and start no second one', async () => {
    const { prewarmer, manager, runtime } = setup();
    await manager.wake('u2');
    const { job } = await prewarmer.create({ users: users(3), readyBy: inSeconds(0), holdFor: '1m' }, 'prof');
    const done = await untilSettled(prewarmer, job.id);
    expect(done.users.map((u) => [u.user, u.state, u.reason])).toEqual([
      ['u1', 'ready', undefined],
      ['u2', 'ready', 'already running'],
      ['u3', 'ready', undefined],
    ]);
    expect(runtime.calls.start).toBe(3);
  });

  it('keep at most the spawn concurrency in flight', async () => {
    const runtime = new FakeRuntime(editor.endpoint);
    runtime.startDelayMs = 50;
    let inFlight = 0;
    let most = 0;
    const start = runtime.start.bind(runtime);
    runtime.start = async (user, options) => {
      most = Math.max(most, ++inFlight);
      try {
        return await start(user, options);
      } finally {
        inFlight--;
      }
    };
    const { prewarmer } = setup({ runtime, concurrency: 3 });
    const { job } = await prewarmer.create({ users: users(10), readyBy: inSeconds(0), holdFor: '1m' }, 'prof');
    expect((await untilSettled(prewarmer, job.id)).users.every((u) => u.state === 'ready')).toBe(true);
    expect(most).toBe(3);
  });

  it('start early enough for the measured spawn time: waves of the concurrency, with room to spare', async () => {
    const { prewarmer, manager, runtime } = setup({ concurrency: 4 });
    for (let i = 0; i < 10; i++) manager.spawnTimes.record(2000);
    const { job } = await prewarmer.create({ users: users(16), readyBy: inSeconds(600), holdFor: '1m' }, 'prof');
    // 4 waves × 2 s × 1.5 + 10 s.
    expect(job.readyBy - job.startAt).toBe(4 * 2000 * 1.5 + 10_000);
    expect(job.state).toBe('scheduled');
    expect(runtime.calls.start).toBe(0);
    prewarmer.close();
  });

  it('cancel what has not started: every user skipped, nothing started, nothing held', async () => {
    const { prewarmer, runtime, holds } = setup();
    const { job } = await prewarmer.create({ users: users(3), readyBy: inSeconds(3600), holdFor: '1m' }, 'prof');
    const cancelled = await prewarmer.cancel(job.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.users.map((u) => [u.state, u.reason])).toEqual(Array(3).fill(['skipped', 'the job was cancelled']));
    expect(runtime.calls.start).toBe(0);
    expect(holds.until('u1')).toBeUndefined();
  });

  it('end the hold at holdUntil: the job is finished and its workspaces are stopped by the idle rule again', async () => {
    const { prewarmer, manager, holds } = setup();
    const policy = new IdlePolicy({ manager, idleTimeoutMs: 1, removeAfterMs: 3600_000, holds, logger });
    const { job } = await prewarmer.create({ users: ['ana'], readyBy: inSeconds(0), holdFor: '2s' }, 'prof');
    await vi.waitFor(() => expect(prewarmer.get(job.id).state).toBe('holding'));
    // Idle far beyond the 1 ms timeout, and held.
    expect((await policy.sweep()).stopped).toEqual([]);
    expect(policy.stopsAt('ana')).toBe(job.holdUntil);
    await vi.waitFor(() => expect(prewarmer.get(job.id).state).toBe('finished'), { timeout: 5000 });
    expect((await policy.sweep()).stopped).toEqual(['ana']);
  });

  it('held workspaces are never stopped to make room', async () => {
    const { prewarmer, manager } = setup({ maxRunning: 1 });
    const { job } = await prewarmer.create({ users: ['ana'], readyBy: inSeconds(0), holdFor: '10m' }, 'prof');
    await untilSettled(prewarmer, job.id);
    const roomy = new WorkspaceManager({
      runtime: new FakeRuntime(editor.endpoint),
      spawnTimeoutMs: 5000,
      maxRunning: 1,
      maxConcurrentSpawns: 1,
      evictIdleAfterMs: 0,
      logger,
    });
    // Without a hold an idle workspace gives up its place; with one it does not.
    await roomy.wake('ana');
    await expect(roomy.wake('ben')).resolves.toBeDefined();
    await expect(manager.wake('ben')).rejects.toMatchObject({ code: 'capacity_full' });
  });

  it('survive a restart: a job begun is resumed, its ready users held again, its begun ones started again', async () => {
    const store = new MemoryStore();
    const first = setup({ store });
    const { job } = await first.prewarmer.create({ users: users(3), readyBy: inSeconds(3600), holdFor: '1m' }, 'prof');
    first.prewarmer.close();
    // As if the gateway died while starting: one ready, one begun, one waiting.
    const saved = store.saved[0]!;
    saved.state = 'starting';
    saved.startAt = Date.now();
    saved.users[0]!.state = 'ready';
    saved.users[1]!.state = 'starting';
    const second = setup({ store });
    second.runtime.workspaces.set('u1', { user: 'u1', state: 'running', id: 'c1', endpoint: editor.endpoint });
    await second.prewarmer.resume();
    expect(second.holds.until('u1')).toBe(saved.holdUntil);
    const done = await untilSettled(second.prewarmer, job.id);
    expect(done.state).toBe('holding');
    expect(done.users.map((u) => u.state)).toEqual(['ready', 'ready', 'ready']);
    expect(second.runtime.calls.start).toBe(2);
  });

  it('is not made when it cannot be saved (503, nothing kept, nothing started)', async () => {
    const store = new MemoryStore();
    store.failWith = new Error('EACCES: permission denied');
    const { prewarmer, runtime } = setup({ store });
    await expect(prewarmer.create({ users: ['ana'], readyBy: inSeconds(0), holdFor: '1m' }, 'prof')).rejects.toMatchObject({
      status: 503,
      code: 'state_unavailable',
    });
    expect(prewarmer.all()).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(runtime.calls.start).toBe(0);
  });
});

describe('the job file', () => {
  it('is written whole and read back; a file that is not ours is refused, not overwritten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-jobs-'));
    const store = new FileJobStore(join(dir, 'state'));
    expect(await store.load()).toEqual([]);
    const { prewarmer } = setup({ store });
    const { job } = await prewarmer.create({ users: ['ana'], readyBy: inSeconds(3600), holdFor: '1m' }, 'prof');
    prewarmer.close();
    expect((await new FileJobStore(join(dir, 'state')).load()).map((j) => j.id)).toEqual([job.id]);

    writeFileSync(join(dir, 'state', 'prewarm-jobs.json'), '{"jobs": "nope"}');
    const broken = setup({ store: new FileJobStore(join(dir, 'state')) });
    await broken.prewarmer.resume();
    await expect(broken.prewarmer.create({ users: ['ana'], readyBy: inSeconds(60), holdFor: '1m' }, 'prof')).rejects.toMatchObject({
      code: 'state_unavailable',
    });
    expect(readFileSync(join(dir, 'state', 'prewarm-jobs.json'), 'utf8')).toBe('{"jobs": "nope"}');
  });
});
