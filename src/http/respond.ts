import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { GatewayError, InternalError } from '../errors.js';
import { wantsJson } from './client-kind.js';
import { endThenDestroy } from './close-gracefully.js';
import { publicOrigin, type OriginPolicy } from './origin.js';
import { errorPage, PAGE_HEADERS } from './pages.js';
import { bodyUnread } from '../proxy/request-body.js';

/** Any thrown value becomes a GatewayError; unknown ones never leak their text. */
export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new InternalError();
}

const TITLES: Record<number, string> = {
  400: 'This address is not valid',
  401: 'Please sign in',
  403: 'Not your workspace',
  404: 'Not found',
  502: 'The workspace did not answer',
  503: 'Workspace not available',
  504: 'The workspace is too slow',
};

/**
 * `Connection: close` when the answer goes out before the request's body
 * has arrived: the gateway does not read the rest (unread-body.ts), and the
 * client learns it will have to open a new connection.
 */
function closing(res: ServerResponse, headers: Record<string, string | number>): Record<string, string | number> {
  return res.req && bodyUnread(res.req) ? { ...headers, connection: 'close' } : headers;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(
    status,
    closing(res, { ...headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) }),
  );
  res.end(text);
}

/** One of the gateway's pages (the 401 page, the starting page): its security headers, and `Connection: close` as above. */
export function sendPage(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, closing(res, { ...PAGE_HEADERS, ...headers, 'content-length': Buffer.byteLength(html) }));
  res.end(html);
}

/** The one place errors become responses: JSON for API clients, a page for browsers. */
export function sendError(req: IncomingMessage, res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (wantsJson(req.headers)) {
    sendJson(res, error.status, { error: error.code, message: error.message }, error.headers);
    return;
  }
  const retry = error.status >= 500 ? req.url : undefined;
  const html = errorPage(error.status, TITLES[error.status] ?? STATUS_CODES[error.status] ?? 'Error', error.message, error.code, retry);
  sendPage(res, error.status, html, error.headers);
}

/**
 * A browser without a valid token goes to the LMS login (with the way back
 * in `next`), or sees a small page. Never throws, though it runs in a
 * promise's catch, where a throw would end the process: the host was
 * checked before, and should a URL still not parse, the page is shown.
 */
export function sendSignIn(
  req: IncomingMessage,
  res: ServerResponse,
  error: GatewayError,
  loginUrl: string | undefined,
  policy: OriginPolicy,
  logger: Logger,
): void {
  const location = loginUrl && loginLocation(req, loginUrl, policy, logger);
  if (location) return redirect(res, 302, location);
  sendPage(res, 401, errorPage(401, 'Please sign in', `${error.message} Open your workspace from the learning platform.`, error.code));
}

function loginLocation(req: IncomingMessage, loginUrl: string, policy: OriginPolicy, logger: Logger): string | undefined {
  try {
    const origin = publicOrigin(req, policy);
    const url = new URL(loginUrl, origin);
    url.searchParams.set('next', origin + (req.url ?? '/'));
    return url.toString();
  } catch (err) {
    logger.warn({ err }, 'could not build the login redirect');
    return undefined;
  }
}

export function redirect(res: ServerResponse, status: 302 | 303 | 308, location: string): void {
  res.writeHead(status, closing(res, { location, 'cache-control': 'no-store', 'content-length': 0 }));
  res.end();
}

/**
 * A whole answer written straight on a socket Node's HTTP server does not
 * answer on (an upgrade, a connection refused before it was handed to the
 * server): JSON, `Connection: close`, then the socket is ended and
 * destroyed after a grace.
 */
export function answerOnSocket(socket: Duplex, error: GatewayError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: error.code, message: error.message });
  const headers = { ...error.headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' };
  const head =
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
  socket.write(`${head}\r\n\r\n${body}`);
  // end() alone can leave a half-open socket behind a silent client.
  endThenDestroy(socket);
}

/** Refuses an upgrade with a plain HTTP answer and closes the socket; nothing reaches a workspace. */
export function rejectUpgrade(socket: Duplex, error: GatewayError): void {
  answerOnSocket(socket, error);
}
