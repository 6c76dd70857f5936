import { EventEmitter, on } from 'node:events';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../src/errors.js';
import type { Endpoint, ProgressListener, Runtime, RuntimeEvent, WorkspaceInfo } from '../../src/runtimes/runtime.js';

/**
 * An in-memory runtime for unit tests: every workspace "runs" at a fixed
 * endpoint (a test server, or a port nobody listens on). Counts engine calls.
 */
export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly isolated = true;
  readonly workspaces = new Map<string, WorkspaceInfo>();
  readonly calls = { start: 0, inspect: 0, stop: 0, list: 0, remove: 0 };
  readonly emitter = new EventEmitter();
  /** Set to make every call fail like an absent engine. */
  failWith?: Error;
  startDelayMs = 0;

  constructor(public endpoint: Endpoint) {}

  async start(user: string, onProgress?: ProgressListener): Promise<WorkspaceInfo> {
    this.calls.start++;
    this.check();
    onProgress?.({ phase: 'starting', message: 'starting' });
    if (this.startDelayMs) await new Promise((r) => setTimeout(r, this.startDelayMs));
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

  async remove(user: string): Promise<void> {
    this.calls.remove++;
    this.check();
    this.workspaces.delete(user);
  }

  async backup(): Promise<Readable> {
    this.check();
    throw new NotFoundError('This user has no workspace data.', 'no_workspace');
  }

  async restore(_user: string, archive: Readable): Promise<void> {
    this.check();
    archive.resume();
  }

  async list(): Promise<WorkspaceInfo[]> {
    this.calls.list++;
    this.check();
    return [...this.workspaces.values()];
  }

  async ping(): Promise<void> {
    this.check();
  }

  async *events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    try {
      for await (const [event] of on(this.emitter, 'event', { signal })) yield event as RuntimeEvent;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  emit(event: RuntimeEvent): void {
    this.emitter.emit('event', event);
  }

  async close(): Promise<void> {}

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}
