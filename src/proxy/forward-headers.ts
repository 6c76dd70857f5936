import type { IncomingMessage } from 'node:http';
import { withoutCookie } from '../auth/credentials.js';
import { PEER_HEADER, peerAddress } from '../http/peer.js';

/** Headers some apps take as "who is logged in"; a client must never set them for a workspace. */
const IDENTITY_HEADERS = new Set(['x-workspace-user', 'x-remote-user', 'x-user', 'remote-user', 'x-auth-request-user', 'x-auth-request-email', PEER_HEADER]);

export interface ForwardContext {
  cookieName: string;
  /** `/ws/<user>` */
  prefix: string;
  /** Path (and query) the workspace sees. */
  path: string;
  proto: 'http' | 'https';
  /** The browser's host (from a trusted proxy, or our Host header). */
  host: string;
  /** The peer is a trusted edge proxy: its X-Forwarded-For chain is kept and extended. */
  trustedPeer: boolean;
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
  const peer = peerAddress(req) ?? '';
  const chain = ctx.trustedPeer ? headers['x-forwarded-for'] : undefined;
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip' || IDENTITY_HEADERS.has(name)) delete headers[name];
  }
  headers['x-forwarded-for'] = chain ? `${Array.isArray(chain) ? chain.join(', ') : chain}, ${peer}` : peer;
  headers['x-forwarded-proto'] = ctx.proto;
  headers['x-forwarded-host'] = ctx.host;
  headers['x-forwarded-prefix'] = ctx.prefix;
  headers['x-request-id'] = ctx.requestId;
  req.url = ctx.path;
}
