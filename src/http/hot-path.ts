import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { mayOpenWorkspace } from '../auth/access.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Identity } from '../auth/identity.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';
import { logWhenDone } from './request-log.js';
import type { WorkspaceForwarding, WorkspaceRoute } from './workspace-forwarding.js';

export interface HotPathDeps {
  authenticate: Authenticator;
  /** The manager in a single gateway; a cluster worker's replica of the leader's answers. */
  directory: WorkspaceDirectory;
  forwarding: WorkspaceForwarding;
  adminWorkspaceAccess: boolean;
  logger: Logger;
}

/**
 * The request path's fast lane, one piece for a single gateway and every
 * cluster worker: a verified token of someone who may open the workspace,
 * a workspace known to run → forwarded at once, without a single await.
 * Anything else is the slow path's to decide (spawns, starting pages,
 * errors, login redirects). Nothing is logged here unless at debug level;
 * upstream failures are logged where they happen.
 */
export class HotPath {
  private readonly debug: boolean;

  constructor(private readonly deps: HotPathDeps) {
    this.debug = deps.logger.isLevelEnabled('debug');
  }

  /**
   * Forwards the request when `auth` (by default: what is known without
   * waiting — a live session, a token verified before) may open the running
   * workspace; false when the slow path must decide.
   */
  serve(req: IncomingMessage, res: ServerResponse, r: WorkspaceRoute, requestId: string, auth = this.deps.authenticate.known(req)): boolean {
    const endpoint = auth && this.endpointFor(auth.identity, r.user);
    if (!endpoint) return false;
    if (this.debug) logWhenDone(this.deps.logger, req, res, () => ({ reqId: requestId, user: auth.identity.user }), true);
    this.deps.forwarding.web(req, res, requestId, r, endpoint, auth.setCookie);
    return true;
  }

  /** Where `identity` may reach `user`'s running workspace, or undefined. */
  endpointFor(identity: Identity, user: string): Endpoint | undefined {
    return mayOpenWorkspace(identity, user, this.deps.adminWorkspaceAccess) ? this.deps.directory.endpointOf(user) : undefined;
  }
}
