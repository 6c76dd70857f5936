import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Identity } from '../auth/identity.js';
import { hostRefusal } from '../http/host.js';
import { isCrossSiteWrite, originAllowed, type OriginPolicy } from '../http/origin.js';
import { asGatewayError, rejectUpgrade, sendError } from '../http/respond.js';
import { requestId } from '../http/request-id.js';
import { logWhenDone } from '../http/request-log.js';
import { route } from '../http/route.js';
import type { WorkspaceForwarding, WorkspaceRoute } from '../http/workspace-forwarding.js';
import { toLeader } from '../proxy/forward-headers.js';
import { HttpForwarder } from '../proxy/http-forwarder.js';
import { destroySelf } from '../proxy/socket-registry.js';
import type { UpstreamFailure } from '../proxy/upstream.js';
import { WebSocketForwarder } from '../proxy/websocket-forwarder.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';

export interface WorkerGatewayDeps {
  maxUrlLength: number;
  authenticate: Authenticator;
  forwarding: WorkspaceForwarding;
  directory: WorkspaceDirectory;
  policy: OriginPolicy;
  leader: LeaderLink;
  logger: Logger;
}

/**
 * A cluster worker's request path. A request of an authenticated owner to a
 * workspace the leader says is running goes straight to it, exactly as a
 * single gateway would send it; everything else (spawns, starting pages,
 * errors, the API, /metrics) is passed to the leader unchanged, and the
 * leader answers as if the client had asked it.
 */
export class WorkerGateway {
  private readonly debug: boolean;

  constructor(private readonly deps: WorkerGatewayDeps) {
    this.debug = deps.logger.isLevelEnabled('debug');
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    // Answered here: the leader would not see a second Host header (only the first is passed on).
    const badHost = hostRefusal(req, this.deps.policy);
    if (badHost) {
      logWhenDone(this.deps.logger, req, res, () => ({ reqId: requestId(req) }), false);
      return sendError(req, res, badHost);
    }
    const r = this.workspaceRoute(req);
    if (!r) return this.deps.leader.web(req, res);
    const identity = this.deps.authenticate.known(req);
    if (identity) return this.web(req, res, identity, r);
    // Not in this worker's token cache yet: verify here (the leader would decide the same).
    this.deps.authenticate.authenticate(req).then(
      ({ identity }) => this.web(req, res, identity, r),
      () => this.deps.leader.web(req, res),
    ).catch((err: unknown) => this.failed(err, req, () => sendError(req, res, asGatewayError(err))));
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroySelf);
    const badHost = hostRefusal(req, this.deps.policy);
    if (badHost) return rejectUpgrade(socket, badHost);
    const r = this.workspaceRoute(req);
    if (!r || !originAllowed(req, this.deps.policy)) return this.deps.leader.upgrade(req, socket, head);
    this.deps.authenticate.authenticate(req).then(
      ({ identity }) => {
        const endpoint = this.endpointFor(identity, r);
        if (socket.destroyed) return;
        if (endpoint) this.deps.forwarding.upgrade(req, socket, head, requestId(req), identity, r, endpoint);
        else this.deps.leader.upgrade(req, socket, head);
      },
      () => this.deps.leader.upgrade(req, socket, head),
    ).catch((err: unknown) => this.failed(err, req, () => rejectUpgrade(socket, asGatewayError(err))));
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

  private web(req: IncomingMessage, res: ServerResponse, identity: Identity, r: WorkspaceRoute): void {
    const endpoint = this.endpointFor(identity, r);
    if (!endpoint) return this.deps.leader.web(req, res);
    const id = requestId(req);
    // As in a single gateway: requests forwarded as they are are logged at debug level only.
    if (this.debug) logWhenDone(this.deps.logger, req, res, () => ({ reqId: id, user: identity.user }), true);
    this.deps.forwarding.web(req, res, id, r, endpoint);
  }

  private endpointFor(identity: Identity, r: WorkspaceRoute): Endpoint | undefined {
    return this.deps.forwarding.allowed(identity, r.user) ? this.deps.directory.endpointOf(r.user) : undefined;
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

/**
 * The worker's way to the leader's private socket: requests and upgrades go
 * as they came, with the client's address added (any such header the client
 * sent is overwritten).
 */
export class LeaderLink {
  private readonly endpoint: Endpoint;
  private readonly http: HttpForwarder;
  private readonly ws: WebSocketForwarder;

  /** `timeoutMs` covers a spawn: the leader may hold a request until the workspace is up. */
  constructor(socketPath: string, timeoutMs: number, onFailure: (kind: UpstreamFailure) => void) {
    this.endpoint = { socketPath };
    this.http = new HttpForwarder({ timeoutMs, onFailure: (_, kind) => onFailure(kind), sendError });
    this.ws = new WebSocketForwarder({ timeoutMs, onFailure: (_, kind) => onFailure(kind), onOpen: () => {}, reject: rejectUpgrade });
  }

  web(req: IncomingMessage, res: ServerResponse): void {
    this.http.forward(req, res, '', this.endpoint, toLeader(req, false));
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.ws.forward(req, socket, head, '', this.endpoint, toLeader(req, true));
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
