import type { Endpoint } from '../runtimes/runtime.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';
import type { ToLeader } from './messages.js';

/**
 * A cluster worker's copy of the leader's answers to "where does this
 * workspace listen". The leader pushes every change; until it has, the worker
 * passes the request to the leader, which is never wrong, only a hop slower.
 * Activity is sent in batches: the idle rule counts in minutes.
 */
export class WorkspaceReplica implements WorkspaceDirectory {
  private readonly endpoints = new Map<string, Endpoint>();
  private activity = new Map<string, [at: number, kind: string]>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly send: (message: ToLeader) => void,
    flushEveryMs = 1000,
  ) {
    this.timer = setInterval(() => this.flush(), flushEveryMs);
    this.timer.unref();
  }

  endpointOf(user: string): Endpoint | undefined {
    return this.endpoints.get(user);
  }

  set(user: string, endpoint: Endpoint | undefined): void {
    if (endpoint) this.endpoints.set(user, endpoint);
    else this.endpoints.delete(user);
  }

  replaceAll(entries: [string, Endpoint][]): void {
    this.endpoints.clear();
    for (const [user, endpoint] of entries) this.endpoints.set(user, endpoint);
  }

  touch(user: string, kind: string): void {
    this.activity.set(user, [Date.now(), kind]);
  }

  unreachable(user: string): void {
    this.endpoints.delete(user);
    this.send({ type: 'unreachable', user });
  }

  flush(): void {
    if (this.activity.size === 0) return;
    const entries = [...this.activity].map(([user, [at, kind]]): [string, number, string] => [user, at, kind]);
    this.activity = new Map();
    this.send({ type: 'activity', entries });
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
