import type { IncomingMessage } from 'node:http';

/** An HTTP/1.1 request has a body only when it says so (RFC 9112 §6.3). */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The body has not fully arrived (yet): an answer now ends the connection (src/http/unread-body.ts). */
export function bodyUnread(req: IncomingMessage): boolean {
  return !req.complete && declaresBody(req);
}
