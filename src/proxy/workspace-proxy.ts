import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import { UpstreamError, UpstreamTimeoutError, type GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';

export type UpstreamFailure = 'refused' | 'reset' | 'timeout';

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

/** Which workspace a proxied request belongs to; kept on the request for the shared event handlers. */
const owners = new WeakMap<IncomingMessage, string>();
const timedOut = new WeakSet<IncomingMessage>();

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOENT', 'EAI_AGAIN']);

/**
 * HTTP and WebSocket forwarding to workspaces over keep-alive connections.
 * Every failure ends in a response or in both sockets destroyed: nothing is
 * left half-open (the leak that exhausted CHP at a few hundred users).
 */
export class WorkspaceProxy {
  private readonly proxy: ProxyServer;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, timeout: 60_000 });

  constructor(private readonly options: WorkspaceProxyOptions) {
    this.proxy = new ProxyServer({ xfwd: false, changeOrigin: false, proxyTimeout: options.timeoutMs, agent: this.agent });
    this.proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
      proxyReq.once('timeout', () => timedOut.add(req));
    });
    this.proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
      // A workspace that resets mid-body must not leave the client waiting for the rest.
      const abort = () => {
        if (!res.writableFinished) {
          res.destroy();
          this.failed(req, 'reset');
        }
      };
      proxyRes.once('aborted', abort);
      proxyRes.once('error', abort);
    });
    this.proxy.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Socket) => {
        link(socket, upstream);
        const user = owners.get(req);
        if (user) this.options.onWebSocket?.(user, socket, upstream);
      });
    });
    // Errors without a per-call callback must never reach the process as 'uncaughtException'.
    this.proxy.on('error', (err: Error) => this.options.logger.warn({ err: err.message }, 'proxy error'));
  }

  web(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint): void {
    owners.set(req, user);
    this.proxy.web(req, res, { target: target(endpoint) }, (err: Error) => this.onWebError(err, req, res));
  }

  ws(req: IncomingMessage, socket: Duplex, head: Buffer, user: string, endpoint: Endpoint): void {
    owners.set(req, user);
    this.proxy.ws(req, socket, head, { target: target(endpoint) }, (err: Error) => {
      const kind = REFUSED.has(errCode(err)) ? 'refused' : 'reset';
      this.failed(req, kind);
      socket.destroy();
    });
  }

  close(): void {
    this.agent.destroy();
    this.proxy.close();
  }

  private onWebError(err: Error, req: IncomingMessage, res: ServerResponse): void {
    const kind: UpstreamFailure = timedOut.has(req) ? 'timeout' : REFUSED.has(errCode(err)) ? 'refused' : 'reset';
    this.failed(req, kind);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.options.sendError(req, res, kind === 'timeout' ? new UpstreamTimeoutError() : new UpstreamError());
  }

  private failed(req: IncomingMessage, kind: UpstreamFailure): void {
    const user = owners.get(req);
    if (!user) return;
    owners.delete(req);
    this.options.logger.warn({ user, upstream: kind }, 'workspace upstream failed');
    this.options.onUpstreamFailure(user, kind);
  }
}

function target(endpoint: Endpoint) {
  return 'socketPath' in endpoint ? { socketPath: endpoint.socketPath, host: 'localhost', port: 0 } : { host: endpoint.host, port: endpoint.port, protocol: 'http:' };
}

function errCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? '';
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
