import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import type { GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { HttpForwarder, type UpstreamFailure } from './http-forwarder.js';

export type { UpstreamFailure } from './http-forwarder.js';

export interface WorkspaceProxyOptions {
  /** How long a running workspace may take to start answering a request. */
  timeoutMs: number;
  logger: Logger;
  /** The workspace could not be reached or broke off; `refused` means its endpoint is probably stale. */
  onUpstreamFailure: (user: string, kind: UpstreamFailure) => void;
  /** Called with both ends once a WebSocket is established. */
  onWebSocket?: (user: string, client: Duplex, upstream: Duplex) => void;
  /** Turns a failure before any byte was answered into a response (the gateway's error renderer). */
  sendError: (req: IncomingMessage, res: ServerResponse, error: GatewayError) => void;
}

/** Which workspace an upgrade belongs to, for the shared http-proxy-3 event handlers. */
const owners = new WeakMap<IncomingMessage, string>();

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOENT', 'EAI_AGAIN']);

/**
 * HTTP and WebSocket forwarding to workspaces. HTTP goes through undici's
 * pools (HttpForwarder); WebSocket upgrades through http-proxy-3, after which
 * the two sockets are piped. Every failure ends in a response or in both
 * sockets destroyed: nothing is left half-open (the leak that exhausted CHP
 * at a few hundred users).
 */
export class WorkspaceProxy {
  private readonly http: HttpForwarder;
  private readonly ws: ProxyServer;

  constructor(private readonly options: WorkspaceProxyOptions) {
    this.http = new HttpForwarder({ timeoutMs: options.timeoutMs, onFailure: options.onUpstreamFailure, sendError: options.sendError });
    this.ws = new ProxyServer({ xfwd: false, changeOrigin: false });
    this.ws.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Socket) => {
        link(socket, upstream);
        const user = owners.get(req);
        if (user) this.options.onWebSocket?.(user, socket, upstream);
      });
    });
    // Errors without a per-call callback must never reach the process as 'uncaughtException'.
    this.ws.on('error', (err: Error) => this.options.logger.warn({ err: err.message }, 'proxy error'));
  }

  web(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint): void {
    this.http.forward(req, res, user, endpoint);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, user: string, endpoint: Endpoint): void {
    owners.set(req, user);
    this.ws.ws(req, socket, head, { target: target(endpoint) }, (err: Error) => {
      this.options.logger.warn({ user, upstream: err.message }, 'workspace WebSocket failed');
      this.options.onUpstreamFailure(user, REFUSED.has((err as NodeJS.ErrnoException).code ?? '') ? 'refused' : 'reset');
      socket.destroy();
    });
  }

  /** The workspace at this address went away: drop its pooled connections. */
  forget(endpoint: Endpoint): void {
    this.http.forget(endpoint);
  }

  async close(): Promise<void> {
    this.ws.close();
    await this.http.close();
  }
}

function target(endpoint: Endpoint) {
  return 'socketPath' in endpoint ? { socketPath: endpoint.socketPath, host: 'localhost', port: 0 } : { host: endpoint.host, port: endpoint.port, protocol: 'http:' };
}

/** When either end of a WebSocket goes, the other goes too (after a moment to flush). */
function link(client: Duplex, upstream: Duplex): void {
  const finish = (other: Duplex) => () => {
    if (other.destroyed) return;
    other.end();
    setTimeout(() => other.destroy(), 1000).unref();
  };
  client.once('close', finish(upstream));
  upstream.once('close', finish(client));
  client.once('error', () => client.destroy());
  upstream.once('error', () => upstream.destroy());
}
