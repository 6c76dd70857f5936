import type { IncomingMessage } from 'node:http';
import { withoutCookie } from '../auth/credentials.js';

export interface ForwardContext {
  cookieName: string;
  /** `/ws/<user>` */
  prefix: string;
  /** Path (and query) the workspace sees. */
  path: string;
  proto: 'http' | 'https';
  requestId: string;
}

/**
 * Rewrites the request in place for the workspace: the LMS token never
 * leaves the gateway, client-supplied forwarding and identity headers are
 * replaced by the gateway's own, and Host is kept so code-server's own
 * Origin check passes.
 */
export function prepareForward(req: IncomingMessage, ctx: ForwardContext): void {
  const headers = req.headers;
  delete headers.authorization;
  const cookie = withoutCookie(headers.cookie, ctx.cookieName);
  if (cookie === undefined) delete headers.cookie;
  else headers.cookie = cookie;
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip' || name === 'x-workspace-user') delete headers[name];
  }
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  headers['x-forwarded-proto'] = ctx.proto;
  headers['x-forwarded-host'] = headers.host ?? '';
  headers['x-forwarded-prefix'] = ctx.prefix;
  headers['x-request-id'] = ctx.requestId;
  req.url = ctx.path;
}
