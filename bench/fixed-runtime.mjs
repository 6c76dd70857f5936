// A runtime that spawns nothing: every workspace "runs" at one fixed endpoint
// (the bench's backend). `known` workspaces are listed as running, so the
// gateway's reconcile() at start loads them all, like a restarted gateway in
// front of a busy engine. Implements src/runtimes/runtime.ts; keeps no files,
// so it has no `storage`.
import { EventChannel } from './dist/gateway.js';

export class FixedRuntime {
  name = 'bench-fixed';

  /** @param endpoint {host, port}  @param users the user ids known to be running */
  constructor(endpoint, users) {
    this.endpoint = endpoint;
    this.channel = new EventChannel();
    this.workspaces = new Map();
    const startedAt = new Date();
    for (const user of users) this.workspaces.set(user, this.running(user, startedAt));
  }

  running(user, startedAt = new Date()) {
    return { user, state: 'running', id: `bench-${user}`, image: 'bench', createdAt: startedAt, startedAt, endpoint: this.endpoint };
  }

  async prepare() {}

  async start(user) {
    const info = this.running(user);
    this.workspaces.set(user, info);
    return info;
  }

  async inspect(user) {
    return this.workspaces.get(user) ?? { user, state: 'absent' };
  }

  async stop(user) {
    const info = this.workspaces.get(user);
    if (info) this.workspaces.set(user, { ...info, state: 'stopped', endpoint: undefined, finishedAt: new Date() });
  }

  async remove(user) {
    this.workspaces.delete(user);
  }

  async list() {
    return [...this.workspaces.values()];
  }

  events(signal) {
    return this.channel.stream(signal);
  }

  async close() {}
}
