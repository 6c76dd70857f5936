import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface ServerLimits {
  headersTimeoutMs: number;
}

/** Largest request head (request line + headers); more is 431. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Restores of large workspaces stream for a long time; nothing else needs this long. */
const REQUEST_TIMEOUT_MS = 30 * 60_000;

/**
 * The HTTP server with the limits that keep one client from hurting others:
 * bounded header size and header time (slow clients are cut off), bounded
 * keep-alive, Node's strict parser (requests with both Content-Length and
 * Transfer-Encoding, odd Transfer-Encoding or bad chunk sizes are refused, so
 * nothing is forwarded ambiguously). Parser errors get a plain status and a
 * closed connection.
 */
export function createGatewayServer(
  limits: ServerLimits,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): Server {
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    insecureHTTPParser: false,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.headersTimeoutMs),
    keepAliveTimeout: 65_000,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  });
  server.maxRequestsPerSocket = 10_000;
  server.on('request', onRequest);
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    // As Node's own handler: answer unless a response already started on this socket.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}
