import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { gatewayCookies, type Authenticated } from '../auth/authenticator.js';
import type { CookieNames } from '../auth/credentials.js';
import type { Session, Sessions } from '../auth/sessions.js';
import type { Config } from '../config/load.js';
import { TooManyWebSocketsError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { toWorkspace, type ForwardContext } from '../proxy/forward-headers.js';
import { FrameScanner } from '../proxy/frame-scanner.js';
import { HttpForwarder } from '../proxy/http-forwarder.js';
import { closeSocket, closeSocketAt, type SocketRegistry } from '../proxy/socket-registry.js';
import type { UpstreamFailure } from '../proxy/upstream.js';
import type { ClientCompression } from '../proxy/websocket-extensions.js';
import { WebSocketForwarder } from '../proxy/websocket-forwarder.js';
import { SocketCap } from '../proxy/socket-cap.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { isDataFrame, isStudentFrame } from '../workspaces/activity.js';
import type { WorkspaceDirectory } from '../workspaces/directory.js';
import { requestHost, requestProto, type OriginPolicy } from './origin.js';
import { peerAddress } from './peer.js';
import { rejectUpgrade, sendError } from './respond.js';
import { WORKSPACE_PREFIX, type Route } from './route.js';
import { noticeScriptTag } from '../api/idle-notices.js';

export type WorkspaceRoute = Extract<Route, { kind: 'workspace' }>;

export interface ForwardingDeps {
  config: Config;
  policy: OriginPolicy;
  metrics: Metrics;
  directory: WorkspaceDirectory;
  sockets: SocketRegistry;
  sessions: Sessions;
  cookieNames: CookieNames;
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
  private readonly gatewayCookies: ReadonlySet<string>;
  /** The session each upgrade belongs to, until its workspace answers 101. */
  private readonly pendingSessions = new WeakMap<Duplex, Session>();
  /** Closes WebSockets whose session went idle, often enough for the idle setting and never more than twice a second. */
  private readonly sessionSweeper: NodeJS.Timeout;
  /** Whether the workbench page gets the idle notice's script (GATEWAY_IDLE_WARNING is not 0). */
  private readonly notices: boolean;

  constructor(private readonly deps: ForwardingDeps) {
    const { config } = deps;
    const onFailure = (user: string, kind: UpstreamFailure) => this.failed(user, kind);
    this.gatewayCookies = gatewayCookies(deps.cookieNames);
    this.http = new HttpForwarder({ timeoutMs: config.proxy_timeout, onFailure, sendError, gatewayCookies: this.gatewayCookies });
    this.ws = new WebSocketForwarder({
      timeoutMs: config.proxy_timeout,
      onFailure,
      onOpen: (user, client, _upstream, compression) => this.opened(user, client, compression),
      reject: rejectUpgrade,
    });
    this.webSockets = new SocketCap(config.max_websockets_per_user);
    this.notices = config.idle_warning > 0;
    this.sessionSweeper = setInterval(() => this.closeIdleSessions(), Math.min(30_000, Math.max(500, deps.sessions.idleMs / 10)));
    this.sessionSweeper.unref();
  }

  /** `setCookie`: the session cookie the answer carries (started or renewed). */
  web(req: IncomingMessage, res: ServerResponse, requestId: string, r: WorkspaceRoute, endpoint: Endpoint, setCookie?: string): void {
    this.deps.directory.touch(r.user, 'request');
    this.deps.metrics.proxied.inc();
    // The workbench is the workspace's root page (code-server 4 serves it at `/?folder=…`): it alone gets the notice's script.
    const tag = this.notices && r.rest === '/' && req.method === 'GET' ? noticeScriptTag(r.user) : undefined;
    this.http.forward(req, res, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), false), setCookie, tag);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, auth: Authenticated, r: WorkspaceRoute, endpoint: Endpoint): void {
    // Refused before any connection to the workspace is opened.
    if (!this.webSockets.admit(r.user, socket)) {
      this.deps.logger.info({ reqId: requestId, user: r.user, max: this.webSockets.max }, 'upgrade refused: too many WebSockets');
      return rejectUpgrade(socket, new TooManyWebSocketsError(this.webSockets.max));
    }
    this.pendingSessions.set(socket, auth.session);
    this.ws.forward(req, socket, head, r.user, endpoint, toWorkspace(req, this.context(req, requestId, r), true));
    // It outlives the request that authenticated it, as long as its session: the absolute end is a
    // timer, the idle end the sweeper's, a logout closeSession's. The reconnect must bring a live session.
    closeSocketAt(socket, this.deps.sessions.endsAt(auth.session), 1008, 'session ended');
  }

  /** A logout: the session's WebSockets are closed. */
  endSession(id: string): void {
    this.deps.sockets.closeSession(id, 1008, 'signed out');
  }

  /** The workspace at this address went away: drop its pooled connections. */
  forget(endpoint: Endpoint): void {
    this.http.forget(endpoint);
  }

  close(): Promise<void> {
    clearInterval(this.sessionSweeper);
    return this.http.close();
  }

  private closeIdleSessions(): void {
    const now = Date.now();
    for (const { session } of this.deps.sockets.sessions()) {
      if (!this.deps.sessions.isLive(session, now)) this.deps.sockets.closeSession(session.id, 1008, 'session ended');
    }
  }

  private failed(user: string, kind: UpstreamFailure): void {
    this.deps.logger.warn({ user, upstream: kind }, 'workspace upstream failed');
    this.deps.metrics.upstreamErrors.inc({ kind });
    if (kind === 'refused') this.deps.directory.unreachable(user);
  }

  private opened(user: string, client: Duplex, compression: ClientCompression): FrameScanner {
    const session = this.pendingSessions.get(client);
    this.deps.sockets.add(user, client, session);
    const { directory, sessions, logger } = this.deps;
    const counts = compression === 'unreadable' ? isDataFrame : isStudentFrame;
    return new FrameScanner(
      (opcode, length, firstByte) => {
        if (!counts(opcode, length, firstByte)) return;
        directory.touch(user, 'websocket');
        if (session) sessions.touch(session.id);
      },
      {
        compressed: compression === 'per-message',
        onInvalid: () => {
          logger.info({ user }, 'websocket closed: the client sent compressed data that does not inflate');
          closeSocket(client, 1007, 'invalid compressed data');
        },
      },
    );
  }

  private context(req: IncomingMessage, requestId: string, r: WorkspaceRoute): ForwardContext {
    const { config, policy } = this.deps;
    const prefix = `${WORKSPACE_PREFIX}${r.user}`;
    const clientAddress = peerAddress(req) ?? '';
    return {
      cookieNames: this.gatewayCookies,
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
