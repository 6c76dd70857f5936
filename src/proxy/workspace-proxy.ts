import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { Outgoing } from './forward-headers.js';
import { HttpForwarder } from './http-forwarder.js';
import type { UpstreamFailure } from './upstream.js';
import { WebSocketForwarder } from './websocket-forwarder.js';

export interface WorkspaceProxyOptions {
  /** How long a running workspace may take to start answering a request. */
  timeoutMs: number;
  /** The workspace could not be reached or broke off; `refused` means its endpoint is probably stale. */
  onUpstreamFailure: (user: string, kind: UpstreamFailure) => void;
  /** Called with both ends once a WebSocket is established. */
  onWebSocket: (user: string, client: Duplex, upstream: Duplex) => void;
  /** Turns a failure before any byte was answered into a response (the gateway's error renderer). */
  sendError: (req: IncomingMessage, res: ServerResponse, error: GatewayError) => void;
  /** The same for a refused upgrade. */
  rejectUpgrade: (socket: Duplex, error: GatewayError) => void;
}

/**
 * Forwarding to workspaces: HTTP over keep-alive connections of our own,
 * WebSockets by raw socket relaying. Every failure ends in a response or in
 * both sockets destroyed: nothing is left half-open (the leak that exhausted
 * CHP at a few hundred users).
 */
export class WorkspaceProxy {
  private readonly http: HttpForwarder;
  private readonly ws: WebSocketForwarder;

  constructor(options: WorkspaceProxyOptions) {
    this.http = new HttpForwarder({ timeoutMs: options.timeoutMs, onFailure: options.onUpstreamFailure, sendError: options.sendError });
    this.ws = new WebSocketForwarder({ timeoutMs: options.timeoutMs, onFailure: options.onUpstreamFailure, onOpen: options.onWebSocket, reject: options.rejectUpgrade });
  }

  web(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    this.http.forward(req, res, user, endpoint, outgoing);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    this.ws.forward(req, socket, head, user, endpoint, outgoing);
  }

  /** The workspace at this address went away: drop its pooled connections. */
  forget(endpoint: Endpoint): void {
    this.http.forget(endpoint);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
