/**
 * Servers a test puts where a workspace would be, to see exactly what the
 * gateway sends it and to answer by hand. Not listening yet:
 * gatewayInFrontOf (gateway.ts) listens on one and closes it with the gateway.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';

/**
 * A workspace that notes each request in `seen` as `METHOD path bodyLength`
 * once it has read the whole body, and answers with JSON of what it got:
 * `{ method, url, bodyLength, headers }`.
 */
export function recordingWorkspace(seen: string[]): HttpServer {
  return createHttpServer((req, res) => {
    let length = 0;
    req.on('data', (c: Buffer) => (length += c.length));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${length}`);
      res.end(JSON.stringify({ method: req.method, url: req.url, bodyLength: length, headers: req.headers }));
    });
  });
}

/**
 * A workspace on a bare TCP server that answers each connection's first
 * request (an upgrade) by hand: once the request head is in, `answer` gets
 * the socket, paused, with any bytes after the head put back, and the head
 * as it came (latin1, up to and including the blank line).
 * `allowHalfOpen`: the workspace may go on sending after the gateway's FIN,
 * as a WebSocket server finishing its side does.
 */
export function rawUpgradeServer(answer: (socket: Socket, head: string) => void, { allowHalfOpen = false } = {}): TcpServer {
  return createTcpServer({ allowHalfOpen }, (socket) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) socket.unshift(rest);
      answer(socket, head.slice(0, end + 4));
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
}
