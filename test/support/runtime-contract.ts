/**
 * What every runtime promises the gateway (src/runtimes/runtime.ts), run on
 * each of them: a new engine costs a folder plus a few lines of test. What a
 * runtime cannot offer is skipped only with the reason stated for it.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Runtime, RuntimeEvent, RuntimeProgress, WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { waitUntilAnswering } from '../../src/workspaces/readiness.js';
import { collect, makeTar } from './archive.js';

export interface RuntimeUnderTest {
  runtime: Runtime;
  /** Ends the workspace behind the runtime's back, as a crash would (kill -9 of the process, `docker kill`). */
  crash(info: WorkspaceInfo): Promise<void>;
  /** A second runtime object on the same engine, as a restarted gateway builds it. */
  reopen?: () => Runtime;
  /** The same runtime on an engine that does not answer. */
  engineDown?: () => Runtime;
  /** Removes whatever the tests left behind on the engine. */
  cleanup?: () => Promise<void>;
}

/** Capabilities a runtime may lack, each with the reason it does. */
export interface Unsupported {
  reopen?: string;
  engineDown?: string;
  storage?: string;
}

const WAIT = { timeout: 15_000, interval: 50 };

/** The files of an uncompressed tar, by path relative to the workspace folder. */
async function filesOf(archive: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const lister = tar.t({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        if (entry.type === 'File') files.set(entry.path.replace(/^\.\//, ''), Buffer.concat(chunks).toString());
      });
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    lister.on('end', () => resolve());
    lister.on('error', reject);
  });
  lister.end(archive);
  await done;
  return files;
}

export function runtimeContract(name: string, make: () => Promise<RuntimeUnderTest>, unsupported: Unsupported = {}): void {
  describe(`the runtime contract: ${name}`, () => {
    let subject: RuntimeUnderTest;
    let runtime: Runtime;
    const reopened: Runtime[] = [];
    const seen: RuntimeEvent[] = [];
    const events = new AbortController();
    let listening: Promise<void> | undefined;

    const storage = () => {
      if (!runtime.storage) throw new Error(`${name} has no storage, and says why not: ${unsupported.storage}`);
      return runtime.storage;
    };
    const backupFiles = async (user: string) => filesOf(await collect(await storage().backup(user)));
    const restoreFiles = (user: string, files: Record<string, string>) =>
      storage().restore(user, Readable.from([makeTar(Object.entries(files).map(([path, body]) => ({ path, body, uid: 1000, gid: 1000 })))]));

    const skipped = (capability: keyof Unsupported) => unsupported[capability] !== undefined;
    const title = (text: string, capability: keyof Unsupported) => (unsupported[capability] ? `${text} (not applicable: ${unsupported[capability]})` : text);

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

    it('lacks only what it says it lacks', () => {
      const offered = { reopen: subject.reopen !== undefined, engineDown: subject.engineDown !== undefined, storage: runtime.storage !== undefined };
      for (const [capability, present] of Object.entries(offered))
        expect({ capability, present }).toEqual({ capability, present: !skipped(capability as keyof Unsupported) });
    });

    it('prepares: the engine answers and what workspaces need exists', async () => {
      await expect(runtime.prepare()).resolves.toBeUndefined();
      await expect(runtime.prepare()).resolves.toBeUndefined();
    });

    it('gives one instance to concurrent starts', async () => {
      const infos = await Promise.all([runtime.start('ann'), runtime.start('ann'), runtime.start('ann')]);
      expect(infos.every((info) => info.state === 'running' && info.endpoint)).toBe(true);
      expect(new Set(infos.map((info) => info.id)).size).toBe(1);
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

    it.skipIf(skipped('reopen'))(title('lets a fresh runtime object find what exists (a restarted gateway)', 'reopen'), async () => {
      const running = await runtime.inspect('ann');
      const fresh = subject.reopen!();
      reopened.push(fresh);
      expect((await fresh.list()).find((info) => info.user === 'ann')).toMatchObject({ state: 'running', id: running.id });
      expect(await fresh.inspect('ann')).toMatchObject({ state: 'running', id: running.id });
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

    it.skipIf(skipped('storage'))(title('round-trips a backup through restore', 'storage'), async () => {
      const files = { 'notes.txt': 'hello\n', 'src/app.js': 'export const x = 1;\n' };
      await restoreFiles('eve', files);
      expect(await storage().exists('eve')).toBe(true);
      const backed = await backupFiles('eve');
      for (const [path, body] of Object.entries(files)) expect(backed.get(path)).toBe(body);
      await runtime.remove('eve', { volume: true });
    });

    it.skipIf(skipped('storage'))(title('keeps the data across stop and start', 'storage'), async () => {
      const fay = await runtime.start('fay');
      // The caller's part of a start: until the editor answers, it may not have its SIGTERM handler yet (PID 1 ignores the signal without one).
      expect(await waitUntilAnswering(fay.endpoint!, Date.now() + 15_000)).toBe(true);
      await restoreFiles('fay', { 'kept.txt': 'across stop and start' });
      await runtime.stop('fay');
      // Stopped, or absent where the runtime keeps no record of a workspace that ended (a process).
      expect(['stopped', 'absent']).toContain((await runtime.inspect('fay')).state);
      expect((await runtime.start('fay')).state).toBe('running');
      expect((await backupFiles('fay')).get('kept.txt')).toBe('across stop and start');
    });

    it.skipIf(skipped('storage'))(title('keeps the data on removal unless asked', 'storage'), async () => {
      await runtime.remove('fay');
      expect(await runtime.inspect('fay')).toEqual({ user: 'fay', state: 'absent' });
      expect(await storage().exists('fay')).toBe(true);
      expect((await backupFiles('fay')).get('kept.txt')).toBe('across stop and start');
      await runtime.remove('fay', { volume: true });
      expect((await runtime.inspect('fay')).state).toBe('absent');
      expect(await storage().exists('fay')).toBe(false);
      await expect(storage().backup('fay')).rejects.toMatchObject({ name: 'NotFoundError', code: 'no_workspace' });
    });

    it.skipIf(skipped('engineDown'))(title('answers EngineUnavailableError when the engine is down', 'engineDown'), async () => {
      const gone = subject.engineDown!();
      reopened.push(gone);
      for (const call of [() => gone.prepare(), () => gone.start('ann'), () => gone.inspect('ann'), () => gone.list(), () => gone.stop('ann')]) {
        await expect(call()).rejects.toMatchObject({ name: 'EngineUnavailableError', code: 'engine_unavailable', status: 503 });
      }
    });
  });
}
