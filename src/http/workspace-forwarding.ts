import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Identity } from '../auth/identity.js';
import type { Config } from '../config/load.js';
import { TooManyWebSocketsError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { toWorkspace, type ForwardContext } from '../proxy/forward-headers.js';
import { FrameScanner } from '../proxy/frame-scanner.js';
import { HttpForwarder } from '../proxy/http-forwarder.js';
import { closeSocketAt, type SocketRegistry } from '../proxy/socket-registry.js';
import type { UpstreamFailure } from '../proxy/upstream.js';
import { WebSocketForwarder } from '../proxy/websocket-forwarder.js';
import { SocketCap } from '../proxy/socket-cap.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { isStudentFrame } from '../workspaces/activity.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';
import { requestHost, requestProto, type OriginPolicy } from './origin.js';
import { peerAddress } from './peer.js';
import { rejectUpgrade, sendError } from './respond.js';
import { WORKSPACE_PREFIX, type Route } from './route.js';

export type WorkspaceRoute = Extract<Route, { kind: 'workspace' }>;

export interface ForwardingDeps {
  config: Config;
  policy: OriginPolicy;
  metrics: Metrics;
  directory: WorkspaceDirectory;
  sockets: SocketRegistry;
  logger: Logger;
}

/**
 * The last step of the path to a running workspace, the same in a single
 * gateway and in each worker of a cluster: what the request looks like when
 * it leaves, and the hand-over to HTTP forwarding (keep-alive connections of
 * our own) or WebSocket relaying (raw sockets). Around it: upstream failures
 * are logged, counted and make the directory doubt the endpoint; WebSockets
 * are capped per user, registered (so a stopping workspace's tabs are
 * closed), closed when their token expires, and their client frames read for
 * the idle rule. Every failure ends in a response or in both sockets
 * destroyed: nothing is left half-open.
 */
export class WorkspaceForwarding {
  private readonly http: HttpForwarder;
  private readonly ws: WebSocketForwarder;
  /** WebSockets per user, counted from the upgrade: ones still waiting for the workspace's answer count too, so a burst cannot pass together. */
  private readonly webSockets: SocketCap;

  constructor(private readonly deps: ForwardingDeps) {
    const { config } = deps;
    const onFailure = (user: string, kind: UpstreamFailure) => this.failed(user, kind);
    this.http = new HttpForwarder({ timeoutMs: config.proxy_timeout, onFailure, sendError });
    this.ws = new WebSocketForwarder({
      timeoutMs: config.proxy_timeout,
      onFailure,
      onOpen: (user, client) => this.opened(user, client),
      reject: rejectUpgrade,
    });
    this.webSockets = new SocketCap(config.max_websockets_per_user);
  }

  web(req: IncomingMessage, res: ServerResponse, requestId: string, r: WorkspaceRoute, endpoint: Endpoint): void {
    this.deps.directory.touch(r.user, 'request');
    this.deps.metrics.proxied.inc();
    this.http.forward(req, res, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), false));
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, identity: Identity, r: WorkspaceRoute, endpoint: Endpoint): void {
    // Refused before any connection to the workspace is opened.
    if (!this.webSockets.admit(r.user, socket)) {
      this.deps.logger.info({ reqId: requestId, user: r.user, max: this.webSockets.max }, 'upgrade refused: too many WebSockets');
      return rejectUpgrade(socket, new TooManyWebSocketsError(this.webSockets.max));
    }
    this.ws.forward(req, socket, head, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), true));
    // It outlives the request that authenticated it: once the token has expired (plus the
    // grace) it is closed, and the editor's reconnect must bring a valid token.
    closeSocketAt(socket, identity.expiresAt + this.deps.config.ws_token_grace, 1008, 'token expired');
  }

  /** The workspace at this address went away: drop its pooled connections. */
  forget(endpoint: Endpoint): void {
    this.http.forget(endpoint);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private failed(user: string, kind: UpstreamFailure): void {
    this.deps.logger.warn({ user, upstream: kind }, 'workspace upstream failed');
    this.deps.metrics.upstreamErrors.inc({ kind });
    if (kind === 'refused') this.deps.directory.unreachable(user);
  }

  private opened(user: string, client: Duplex): void {
    this.deps.sockets.add(user, client);
    const directory = this.deps.directory;
    const scanner = new FrameScanner((opcode, length, firstByte) => {
      if (isStudentFrame(opcode, length, firstByte)) directory.touch(user, 'websocket');
    });
    client.on('data', (chunk: Buffer) => scanner.push(chunk));
  }

  private context(req: IncomingMessage, requestId: string, r: WorkspaceRoute): ForwardContext {
    const { config, policy } = this.deps;
    const prefix = `${WORKSPACE_PREFIX}${r.user}`;
    const clientAddress = peerAddress(req) ?? '';
    return {
      cookieName: config.cookie_name,
      prefix,
      path: config.strip_prefix ? r.rest + r.query : prefix + r.rest + r.query,
      proto: requestProto(req, policy),
      host: requestHost(req, policy),
      clientAddress,
      trustedPeer: policy.trustsPeer(clientAddress),
      requestId,
    };
  }
}
