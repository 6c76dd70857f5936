import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { RequestBodyTimeoutError, TooManyConnectionsError } from '../errors.js';
import { BodyDeadline } from './body-deadline.js';
import { ConnectionLimit } from './connection-limit.js';
import { answerOnSocket, asGatewayError, rejectUpgrade, sendError } from './respond.js';
import { createProxyTrust } from './proxy-trust.js';
import { pathOnly } from './request-log.js';
import { declaresBody } from '../proxy/request-body.js';
import { closeWhenAnsweredEarly } from './unread-body.js';

export interface ServerLimits {
  /** The whole request head, for everyone: who the client is is known only once the head is complete. */
  headersTimeoutMs: number;
  /** Longest pause in a request body the gateway is reading (only authenticated bodies are read). */
  bodyTimeoutMs: number;
  /** Connections one client address may hold open; 0: no cap (a cluster leader's private socket, whose peers are its workers). */
  maxConnectionsPerClient: number;
  /** Peers the connection cap does not count: edge proxies, which every client comes through. */
  uncappedPeer?: (address: string | undefined) => boolean;
}

export interface GatewayServerOptions {
  limits: ServerLimits;
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Where a listener that threw (a bug: only its request or connection ends) and the limits' refusals are logged. */
  logger: Logger;
}

/**
 * The limits an operator configured. `private`: a cluster leader's socket,
 * reached only by its workers, which cap their clients' connections themselves.
 */
export function serverLimitsOf(config: Config, side: 'public' | 'private'): ServerLimits {
  return {
    headersTimeoutMs: config.headers_timeout,
    bodyTimeoutMs: config.body_timeout,
    maxConnectionsPerClient: side === 'private' ? 0 : config.max_connections_per_client,
    // Behind an edge proxy every connection comes from it: it limits per client itself (nginx limit_conn).
    uncappedPeer: createProxyTrust(config.trusted_proxies),
  };
}

/** Largest request head (request line + headers); more is 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * The HTTP server with the limits that keep one client from hurting others:
 * bounded header size and header time (slow clients are cut off), bodies
 * that must keep flowing, bodies nobody reads are not waited for, a cap on
 * connections per client address, bounded keep-alive, Node's strict parser
 * (requests with both Content-Length and Transfer-Encoding, odd
 * Transfer-Encoding or bad chunk sizes are refused, so nothing is forwarded
 * ambiguously). Parser errors get a plain status and a closed connection.
 *
 * Every listener is guarded: Node calls them inside its parser's and
 * socket's callbacks, where a throw would be an uncaught exception and end
 * the process. A throw ends only its own request or connection, and is
 * logged.
 */
export function createGatewayServer({ limits, onRequest, onUpgrade, logger }: GatewayServerOptions): Server {
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    insecureHTTPParser: false,
    headersTimeout: limits.headersTimeoutMs,
    // Node's one clock for a whole request (head and body) is off: the head has headersTimeout (its check
    // does not depend on this one; Node 20's ConnectionsList::expired tests the two deadlines separately,
    // and a silent connection still gets 408 with this at 0), bodies have the BodyDeadline below,
    // and a restore, the only long request, its own total (GATEWAY_RESTORE_TIMEOUT).
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  });
  server.maxRequestsPerSocket = 10_000;

  const bodies = new BodyDeadline(limits.bodyTimeoutMs, (req, res) => {
    logger.info({ method: req.method, path: pathOnly(req.url), timeoutMs: limits.bodyTimeoutMs }, 'request body stopped arriving: cut off');
    // With nothing answered yet the client is told (408, `Connection: close`); else the answer is cut short.
    if (!res.headersSent) sendError(req, res, new RequestBodyTimeoutError(limits.bodyTimeoutMs));
    else req.socket.destroy();
  });
  server.on('close', () => bodies.close());

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (declaresBody(req)) {
        closeWhenAnsweredEarly(req, res);
        bodies.watch(req, res);
      }
      onRequest(req, res);
    } catch (err) {
      logger.error({ err, method: req.method, path: pathOnly(req.url) }, 'request listener threw: only this request ended');
      failRequest(req, res, err);
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      onUpgrade(req, socket, head);
    } catch (err) {
      logger.error({ err, path: pathOnly(req.url) }, 'upgrade listener threw: only this connection ended');
      guarded(socket, () => rejectUpgrade(socket, asGatewayError(err)));
    }
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    guarded(socket, () => {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      // As Node's own handler: answer unless a response already started on this socket.
      const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) {
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  });

  capConnectionsPerClient(server, new ConnectionLimit(limits.maxConnectionsPerClient, limits.uncappedPeer), logger);
  return server;
}

/**
 * Node's HTTP server takes a connection in its own 'connection' listener;
 * here that listener is only called for connections within the cap, so a
 * refused one is never parsed and nothing of it reaches a handler. The
 * refused connection is answered at once (`429`, a sentence) and closed.
 */
function capConnectionsPerClient(server: Server, limit: ConnectionLimit, logger: Logger): void {
  if (limit.max === 0) return;
  const serve = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    try {
      if (limit.admit(socket)) {
        for (const listener of serve) listener.call(server, socket);
        return;
      }
      // Nobody else listens on this socket: an unanswered 'error' would end the process.
      socket.on('error', destroySelf);
      logger.debug({ client: socket.remoteAddress, max: limit.max }, 'connection refused: too many from this address');
      answerOnSocket(socket, new TooManyConnectionsError(limit.max));
    } catch (err) {
      logger.error({ err }, 'connection listener threw: only this connection ended');
      socket.destroy();
    }
  });
}

/** A 500 (its own status for a GatewayError) for a request whose listener threw; a response already under way is cut short. */
function failRequest(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  guarded(res, () => {
    if (res.headersSent || res.writableEnded) return void res.destroy();
    // Whatever the listener had set may not leak.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    sendError(req, res, asGatewayError(err));
  });
}

/** Runs `fn`; if that throws too, `target` is destroyed. Nothing leaves a listener. */
function guarded(target: { destroy(): unknown }, fn: () => void): void {
  try {
    fn();
  } catch {
    target.destroy();
  }
}

function destroySelf(this: Socket): void {
  this.destroy();
}
