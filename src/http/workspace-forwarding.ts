import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Identity } from '../auth/identity.js';
import type { Config } from '../config/load.js';
import type { Metrics } from '../metrics/metrics.js';
import { toWorkspace } from '../proxy/forward-headers.js';
import { closeSocketAt } from '../proxy/socket-registry.js';
import type { WorkspaceProxy } from '../proxy/workspace-proxy.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';
import { requestHost, requestProto, type OriginPolicy } from './origin.js';
import { peerAddress } from './peer.js';
import { WORKSPACE_PREFIX, type Route } from './route.js';

export type WorkspaceRoute = Extract<Route, { kind: 'workspace' }>;

export interface ForwardingDeps {
  config: Config;
  policy: OriginPolicy;
  proxy: WorkspaceProxy;
  metrics: Metrics;
  directory: WorkspaceDirectory;
}

/**
 * The last step of the path to a running workspace, the same in a single
 * gateway and in each worker of a cluster: who may pass, what the request
 * looks like when it leaves, and the hand-over to the proxy.
 */
export class WorkspaceForwarding {
  constructor(private readonly deps: ForwardingDeps) {}

  /** Only the owner; admins too where admin workspace access is on. */
  allowed(identity: Identity, user: string): boolean {
    return identity.user === user || (identity.admin && this.deps.config.admin_workspace_access);
  }

  web(req: IncomingMessage, res: ServerResponse, requestId: string, r: WorkspaceRoute, endpoint: Endpoint): void {
    this.deps.directory.touch(r.user, 'request');
    this.deps.metrics.proxied.inc();
    this.deps.proxy.web(req, res, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), false));
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, identity: Identity, r: WorkspaceRoute, endpoint: Endpoint): void {
    this.deps.proxy.upgrade(req, socket, head, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), true));
    // It outlives the request that authenticated it: once the token has expired (plus the
    // grace) it is closed, and the editor's reconnect must bring a valid token.
    closeSocketAt(socket, identity.expiresAt + this.deps.config.ws_token_grace, 1008, 'token expired');
  }

  private context(req: IncomingMessage, requestId: string, r: WorkspaceRoute) {
    const prefix = `${WORKSPACE_PREFIX}${r.user}`;
    return {
      cookieName: this.deps.config.cookie_name,
      prefix,
      path: this.deps.config.strip_prefix ? r.rest + r.query : prefix + r.rest + r.query,
      proto: requestProto(req, this.deps.policy),
      host: requestHost(req, this.deps.policy),
      trustedPeer: this.deps.policy.trustsPeer(peerAddress(req)),
      requestId,
    };
  }
}
