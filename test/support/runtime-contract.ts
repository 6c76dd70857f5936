/**
 * What every runtime promises the gateway (src/runtimes/runtime.ts), run on
 * each of them: a new engine costs a folder plus a few lines of test. Where
 * runtimes differ by design (whether workspaces outlive the runtime object,
 * whether there is an engine to lose), each says which it is and the
 * contract asserts that: nothing is skipped.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EngineUnavailableError } from '../../src/errors.js';
import type { Endpoint, Runtime, RuntimeEvent, RuntimeProgress, WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { answersHttp, waitUntilAnswering } from '../../src/workspaces/readiness.js';
import { collect, filesOf, makeTar } from './archive.js';

export interface RuntimeUnderTest {
  runtime: Runtime;
  /** Ends the workspace behind the runtime's back, as a crash would (kill -9 of the process, `docker kill`). */
  crash(info: WorkspaceInfo): Promise<void>;
  /** A second runtime object on the same engine, as a restarted gateway builds it. */
  reopen: () => Runtime;
  /**
   * What that second object finds of the workspaces the first one runs:
   * `their workspaces` where they live in the engine and outlive the object
   * that started them; `nothing` where they are that object's children and
   * end with it (closing an object ends its workspaces).
   */
  reopenFinds: 'their workspaces' | 'nothing';
  /**
   * How the runtime meets an engine that does not answer. `down` builds the
   * runtime on such an engine: every call then throws EngineUnavailableError.
   * `none` (with why): there is no engine to lose, so a runtime object
   * prepares, starts and answers with nothing outside the gateway's process.
   */
  engine: { down: () => Runtime } | { none: string };
  /**
   * Whether an endpoint answers HTTP before the deadline, asked from where the
   * gateway would ask. Default: from this process; a runtime whose
   * workspaces only the gateway's container reaches asks from in there.
   */
  answers?: (endpoint: Endpoint, deadline: number) => Promise<boolean>;
  /** Removes whatever the tests left behind on the engine. */
  cleanup?: () => Promise<void>;
}

const WAIT = { timeout: 15_000, interval: 50 };

export function runtimeContract(name: string, make: () => Promise<RuntimeUnderTest>): void {
  describe(`the runtime contract: ${name}`, () => {
    let subject: RuntimeUnderTest;
    let runtime: Runtime;
    const reopened: Runtime[] = [];
    const seen: RuntimeEvent[] = [];
    const events = new AbortController();
    let listening: Promise<void> | undefined;

    const answers = (endpoint: Endpoint) => (subject.answers ?? waitUntilAnswering)(endpoint, Date.now() + 15_000);
    const storage = () => {
      if (!runtime.storage) throw new Error(`${name} has no storage`);
      return runtime.storage;
    };
    const backupFiles = async (user: string) => filesOf(await collect(await storage().backup(user)));
    const restoreFiles = (user: string, files: Record<string, string>) =>
      storage().restore(user, Readable.from([makeTar(Object.entries(files).map(([path, body]) => ({ path, body, uid: 1000, gid: 1000 })))]));

    beforeAll(async () => {
      subject = await make();
      runtime = subject.runtime;
      listening = (async () => {
        for await (const event of runtime.events(events.signal)) seen.push(event);
      })();
    });
    afterAll(async () => {
      events.abort();
      await listening;
      for (const other of reopened) await other.close();
      await runtime?.close();
      await subject?.cleanup?.();
    });

    it("reaches the workspaces' files (storage)", () => {
      expect(runtime.storage).toMatchObject({ exists: expect.any(Function), backup: expect.any(Function), restore: expect.any(Function) });
    });

    it('prepares: the engine answers and what workspaces need exists', async () => {
      await expect(runtime.prepare()).resolves.toBeUndefined();
      await expect(runtime.prepare()).resolves.toBeUndefined();
    });

    it('gives one instance to concurrent starts', async () => {
      const infos = await Promise.all([runtime.start('ann'), runtime.start('ann'), runtime.start('ann')]);
      expect(infos.every((info) => info.state === 'running' && info.endpoint)).toBe(true);
      expect(new Set(infos.map((info) => info.id)).size).toBe(1);
      expect(await answers(infos[0]!.endpoint!)).toBe(true);
      expect((await runtime.list()).filter((info) => info.user === 'ann')).toEqual([expect.objectContaining({ state: 'running', id: infos[0]!.id })]);
    });

    it('gives up a start whose signal is already aborted, with its reason, and creates nothing', async () => {
      const abort = new AbortController();
      abort.abort(new Error('the spawn was given up'));
      await expect(runtime.start('cid', { signal: abort.signal })).rejects.toThrow('the spawn was given up');
      expect((await runtime.inspect('cid')).state).toBe('absent');
    });

    it('undoes a start given up half-way: it rejects with the reason and the workspace does not stay running', async () => {
      const abort = new AbortController();
      const onProgress = (progress: RuntimeProgress) => {
        if (progress.phase === 'starting') abort.abort(new Error('the spawn deadline passed'));
      };
      await expect(runtime.start('gus', { signal: abort.signal, onProgress })).rejects.toThrow('the spawn deadline passed');
      // A container gets the stop grace period (10 s) when its editor has no SIGTERM handler yet.
      await vi.waitFor(async () => expect((await runtime.inspect('gus')).state).not.toBe('running'), { ...WAIT, timeout: 30_000 });
    }, 40_000);

    it('lets a fresh runtime object find the running workspaces (a restarted gateway), or says they ended with their object', async () => {
      const running = await runtime.inspect('ann');
      expect(running).toMatchObject({ state: 'running', id: expect.any(String) });
      const fresh = subject.reopen();
      reopened.push(fresh);
      if (subject.reopenFinds === 'their workspaces') {
        expect((await fresh.list()).find((info) => info.user === 'ann')).toMatchObject({ state: 'running', id: running.id });
        expect(await fresh.inspect('ann')).toMatchObject({ state: 'running', id: running.id });
        return;
      }
      // Nothing to find: workspaces are children of the object that started them ...
      expect(await fresh.list()).toEqual([]);
      expect(await fresh.inspect('ann')).toEqual({ user: 'ann', state: 'absent' });
      // ... which still runs its own, unchanged ...
      expect(await runtime.inspect('ann')).toMatchObject({ state: 'running', id: running.id });
      // ... and ends them with it: a workspace of the fresh object stops answering once that object is closed.
      const own = await fresh.start('ivy');
      expect(await waitUntilAnswering(own.endpoint!, Date.now() + 15_000)).toBe(true);
      await fresh.close();
      expect(await answersHttp(own.endpoint!)).toBe(false);
    });

    it('reports a crash as an event carrying the instance id', async () => {
      const info = await runtime.start('dan');
      await subject.crash(info);
      const died = await vi.waitFor(() => {
        const event = seen.find((e) => e.kind === 'died' && e.user === 'dan');
        if (!event) throw new Error('no died event for dan yet');
        return event;
      }, WAIT);
      expect(died).toMatchObject({ kind: 'died', user: 'dan', id: info.id });
      expect((await runtime.inspect('dan')).state).toBe('error');
    });

    it('round-trips a backup through restore', async () => {
      const files = { 'notes.txt': 'hello\n', 'src/app.js': 'export const x = 1;\n' };
      await restoreFiles('eve', files);
      expect(await storage().exists('eve')).toBe(true);
      const backed = await backupFiles('eve');
      for (const [path, body] of Object.entries(files)) expect(backed.get(path)).toBe(body);
      await runtime.remove('eve', { volume: true });
    });

    it('keeps the data across stop and start', async () => {
      const fay = await runtime.start('fay');
      // The caller's part of a start: until the editor answers, it may not have its SIGTERM handler yet (PID 1 ignores the signal without one).
      expect(await answers(fay.endpoint!)).toBe(true);
      await restoreFiles('fay', { 'kept.txt': 'across stop and start' });
      await runtime.stop('fay');
      // Stopped, its files kept: the state an admin list and the demo's page show.
      expect((await runtime.inspect('fay')).state).toBe('stopped');
      expect((await runtime.start('fay')).state).toBe('running');
      expect((await backupFiles('fay')).get('kept.txt')).toBe('across stop and start');
    });

    it('keeps the data on removal unless asked', async () => {
      await runtime.remove('fay');
      expect(await runtime.inspect('fay')).toEqual({ user: 'fay', state: 'absent' });
      expect(await storage().exists('fay')).toBe(true);
      expect((await backupFiles('fay')).get('kept.txt')).toBe('across stop and start');
      await runtime.remove('fay', { volume: true });
      expect((await runtime.inspect('fay')).state).toBe('absent');
      expect(await storage().exists('fay')).toBe(false);
      await expect(storage().backup('fay')).rejects.toMatchObject({ name: 'NotFoundError', code: 'no_workspace' });
    });

    it('answers EngineUnavailableError when the engine is down, or needs no engine', async () => {
      if ('down' in subject.engine) {
        const gone = subject.engine.down();
        reopened.push(gone);
        for (const call of [() => gone.prepare(), () => gone.start('ann'), () => gone.inspect('ann'), () => gone.list(), () => gone.stop('ann')]) {
          const refused = call();
          await expect(refused).rejects.toBeInstanceOf(EngineUnavailableError);
          await expect(refused).rejects.toMatchObject({ name: 'EngineUnavailableError', code: 'engine_unavailable', status: 503 });
        }
        return;
      }
      // No engine to lose: a fresh object answers every one of those calls by itself.
      const alone = subject.reopen();
      reopened.push(alone);
      await expect(alone.prepare(), subject.engine.none).resolves.toBeUndefined();
      const started = await alone.start('jo');
      expect(started).toMatchObject({ user: 'jo', state: 'running', endpoint: expect.anything() });
      expect(await alone.inspect('jo')).toMatchObject({ state: 'running', id: started.id });
      expect((await alone.list()).map((info) => info.user)).toEqual(['jo']);
      await expect(alone.stop('jo')).resolves.toBeUndefined();
      expect((await alone.inspect('jo')).state).toBe('stopped');
    });
  });
}
