import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { EngineUnavailableError } from '../../src/errors.js';
import { EventChannel } from '../../src/runtimes/event-channel.js';
import { FolderStorage } from '../../src/runtimes/process/folder-storage.js';
import type { Endpoint, Runtime, RuntimeEvent, RuntimeStorage, StartOptions, WorkspaceInfo } from '../../src/runtimes/runtime.js';

/** What a FakeRuntime's "engine" holds; a second runtime object on it finds the same workspaces (see reopen). */
interface FakeEngine {
  workspaces: Map<string, WorkspaceInfo>;
  channel: EventChannel<RuntimeEvent>;
  /** Workspace files, one folder per user, once keepFiles() gave the runtime storage. */
  dataRoot?: string;
}

/**
 * An in-memory runtime for unit tests: every workspace "runs" at a fixed
 * endpoint (a test server, or a port nobody listens on). Counts engine calls.
 * Its files live in a temporary folder per runtime, removed by close().
 */
export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly workspaces: Map<string, WorkspaceInfo>;
  readonly calls = { prepare: 0, start: 0, inspect: 0, stop: 0, list: 0, remove: 0 };
  /** None unless keepFiles() (or the test) sets one: a runtime may lack storage. */
  storage?: RuntimeStorage;
  /** Set to make every call (storage too) throw it; down() sets the error of an engine that does not answer. */
  failWith?: Error;
  startDelayMs = 0;
  private readonly engine: FakeEngine;

  constructor(
    public endpoint: Endpoint,
    engine?: FakeEngine,
  ) {
    this.engine = engine ?? { workspaces: new Map(), channel: new EventChannel() };
    this.workspaces = this.engine.workspaces;
    if (this.engine.dataRoot) this.keepFiles();
  }

  /** Gives the runtime storage: real files in a temporary folder per user, failing with `failWith` too. */
  keepFiles(): this {
    this.engine.dataRoot ??= mkdtempSync(join(tmpdir(), 'wg-fake-'));
    const folders = new FolderStorage(this.engine.dataRoot, pino({ level: 'silent' }));
    this.storage = {
      exists: async (user) => (this.check(), folders.exists(user)),
      backup: async (user) => (this.check(), folders.backup(user)),
      restore: async (user: string, archive: Readable) => (this.check(), folders.restore(user, archive)),
    };
    return this;
  }

  /**
   * The engine goes away: every call throws EngineUnavailableError, the
   * class the docker runtime throws when its engine does not answer, until up().
   */
  down(detail = 'the fake engine does not answer'): this {
    this.failWith = new EngineUnavailableError(detail);
    return this;
  }

  /** The engine answers again. */
  up(): this {
    this.failWith = undefined;
    return this;
  }

  /** Another runtime object on the same fake engine, as a restarted gateway builds it. */
  reopen(): FakeRuntime {
    return new FakeRuntime(this.endpoint, this.engine);
  }

  async prepare(): Promise<void> {
    this.calls.prepare++;
    this.check();
  }

  async start(user: string, { signal, onProgress }: StartOptions = {}): Promise<WorkspaceInfo> {
    this.calls.start++;
    this.check();
    signal?.throwIfAborted();
    onProgress?.({ phase: 'starting', detail: 'starting' });
    if (this.startDelayMs) await new Promise((r) => setTimeout(r, this.startDelayMs));
    signal?.throwIfAborted();
    const info: WorkspaceInfo = { user, state: 'running', id: `id-${user}`, endpoint: this.endpoint, startedAt: new Date() };
    this.workspaces.set(user, info);
    return info;
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    this.calls.inspect++;
    this.check();
    return this.workspaces.get(user) ?? { user, state: 'absent' };
  }

  async stop(user: string): Promise<void> {
    this.calls.stop++;
    this.check();
    const info = this.workspaces.get(user);
    if (info) this.workspaces.set(user, { ...info, state: 'stopped', endpoint: undefined, finishedAt: new Date() });
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    this.calls.remove++;
    this.check();
    this.workspaces.delete(user);
    if (options.volume && this.engine.dataRoot) rmSync(join(this.engine.dataRoot, user), { recursive: true, force: true });
  }

  async list(): Promise<WorkspaceInfo[]> {
    this.calls.list++;
    this.check();
    return [...this.workspaces.values()];
  }

  events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    return this.engine.channel.stream(signal);
  }

  /** What the engine did by itself, as the test says. */
  emit(event: RuntimeEvent): void {
    this.engine.channel.emit(event);
  }

  async close(): Promise<void> {
    if (this.engine.dataRoot) rmSync(this.engine.dataRoot, { recursive: true, force: true });
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}

/**
 * For a test file's FakeRuntimes: an "editor" on a loopback port that answers
 * every request, so the manager's wait for a spawned workspace ends; closed
 * after the file. Read `.endpoint` inside tests (it is set in beforeAll).
 */
export function answeringEditor(): { endpoint: Endpoint } {
  const editor = createServer((_, res) => res.end('editor'));
  const holder = { endpoint: { host: '127.0.0.1', port: 0 } as Endpoint };
  beforeAll(async () => {
    await new Promise<void>((ready) => editor.listen(0, '127.0.0.1', ready));
    holder.endpoint = { host: '127.0.0.1', port: (editor.address() as AddressInfo).port };
  });
  afterAll(() => new Promise<void>((closed) => editor.close(() => closed())));
  return holder;
}
