import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import { hostRefusal } from '../http/host.js';
import type { HotPath } from '../http/hot-path.js';
import { isCrossSiteWrite, originAllowed, type OriginPolicy } from '../http/origin.js';
import { requestId } from '../http/request-id.js';
import { logWhenDone } from '../http/request-log.js';
import { asGatewayError, rejectUpgrade, sendError } from '../http/respond.js';
import { route } from '../http/route.js';
import type { WorkspaceForwarding, WorkspaceRoute } from '../http/workspace-forwarding.js';
import { destroySelf } from '../proxy/socket-registry.js';
import type { LeaderLink } from './leader-link.js';

export interface WorkerGatewayDeps {
  maxUrlLength: number;
  authenticate: Authenticator;
  hotPath: HotPath;
  forwarding: WorkspaceForwarding;
  policy: OriginPolicy;
  leader: LeaderLink;
  logger: Logger;
}

/**
 * A cluster worker's request path. The hot path (the same piece a single
 * gateway runs) serves an authenticated owner's request to a workspace the
 * leader says is running; everything else (spawns, starting pages, errors,
 * the API, /metrics) is passed to the leader unchanged, and the leader
 * answers as if the client had asked it.
 */
export class WorkerGateway {
  constructor(private readonly deps: WorkerGatewayDeps) {}

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    // Answered here: the leader would not see a second Host header (only the first is passed on).
    const badHost = hostRefusal(req, this.deps.policy);
    if (badHost) {
      logWhenDone(this.deps.logger, req, res, () => ({ reqId: requestId(req) }), false);
      return sendError(req, res, badHost);
    }
    const r = this.workspaceRoute(req);
    if (!r) return this.deps.leader.web(req, res);
    const id = requestId(req);
    if (this.deps.hotPath.serve(req, res, r, id)) return;
    // Not in this worker's token cache yet: verify here (the leader would decide the same).
    this.deps.authenticate
      .authenticate(req)
      .then(
        (auth) => {
          if (!this.deps.hotPath.serve(req, res, r, id, auth)) this.deps.leader.web(req, res);
        },
        () => this.deps.leader.web(req, res),
      )
      .catch((err: unknown) => this.failed(err, req, () => sendError(req, res, asGatewayError(err))));
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroySelf);
    const badHost = hostRefusal(req, this.deps.policy);
    if (badHost) return rejectUpgrade(socket, badHost);
    const r = this.workspaceRoute(req);
    if (!r || !originAllowed(req, this.deps.policy)) return this.deps.leader.upgrade(req, socket, head);
    this.deps.authenticate
      .authenticate(req)
      .then(
        (auth) => {
          const endpoint = this.deps.hotPath.endpointFor(auth.identity, r.user);
          if (socket.destroyed) return;
          if (endpoint) this.deps.forwarding.upgrade(req, socket, head, requestId(req), auth, r, endpoint);
          else this.deps.leader.upgrade(req, socket, head);
        },
        () => this.deps.leader.upgrade(req, socket, head),
      )
      .catch((err: unknown) => this.failed(err, req, () => rejectUpgrade(socket, asGatewayError(err))));
  };

  /** A throw in a promise's handler would end the worker and every WebSocket on it: it ends only this request. */
  private failed(err: unknown, req: IncomingMessage, answer: () => void): void {
    this.deps.logger.error({ reqId: requestId(req), err }, 'request failed');
    try {
      answer();
    } catch {
      req.socket.destroy();
    }
  }

  /**
   * A well-formed workspace path, or undefined for anything the leader should
   * judge: it refuses a cross-site write exactly as a single gateway does.
   */
  private workspaceRoute(req: IncomingMessage): WorkspaceRoute | undefined {
    if ((req.url?.length ?? 0) > this.deps.maxUrlLength) return undefined;
    let r;
    try {
      r = route(req.url);
    } catch {
      return undefined;
    }
    return r.kind === 'workspace' && !isCrossSiteWrite(req, this.deps.policy) ? r : undefined;
  }
}
