import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { Outgoing } from './forward-headers.js';
import { WorkspaceProxy, type WorkspaceProxyOptions } from './workspace-proxy.js';

export class TooManyWebSocketsError extends GatewayError {
  constructor(max: number) {
    super(
      'too_many_websockets',
      429,
      `You already have ${max} live connections to your workspace open; close some editor tabs, then reload this one.`,
      { 'Retry-After': '10' },
    );
  }
}

/**
 * WebSockets per user, counted from the upgrade until the client's socket
 * closes: upgrades still waiting for the workspace's answer count too, so a
 * burst of them cannot pass the cap together. One process counts its own
 * (each worker of a cluster, and the leader for the upgrades it forwards).
 */
export class WebSocketLimit {
  private readonly open = new Map<string, number>();

  /** @param max 0: no cap. */
  constructor(readonly max: number) {}

  /** True when `user` may open one more; `socket` is then counted until it closes. */
  admit(user: string, socket: Duplex): boolean {
    // A socket already gone will not be forwarded, and might never say 'close' again.
    if (this.max === 0 || socket.destroyed) return true;
    const count = this.open.get(user) ?? 0;
    if (count >= this.max) return false;
    this.open.set(user, count + 1);
    socket.once('close', () => this.release(user));
    return true;
  }

  countFor(user: string): number {
    return this.open.get(user) ?? 0;
  }

  private release(user: string): void {
    const count = (this.open.get(user) ?? 1) - 1;
    if (count <= 0) this.open.delete(user);
    else this.open.set(user, count);
  }
}

/**
 * The proxy to workspaces with the cap on WebSockets per user. Both request
 * paths (a single gateway, and each cluster worker) hand every upgrade to
 * the proxy once the owner is authenticated; refusing here comes before any
 * connection to the workspace is even opened.
 */
export class CappedWorkspaceProxy extends WorkspaceProxy {
  private readonly reject: WorkspaceProxyOptions['rejectUpgrade'];

  constructor(
    options: WorkspaceProxyOptions,
    private readonly limit: WebSocketLimit,
    private readonly onRefused: (user: string) => void = () => {},
  ) {
    super(options);
    this.reject = options.rejectUpgrade;
  }

  override upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    if (!this.limit.admit(user, socket)) {
      this.onRefused(user);
      this.reject(socket, new TooManyWebSocketsError(this.limit.max));
      return;
    }
    super.upgrade(req, socket, head, user, endpoint, outgoing);
  }
}
