import type { IncomingMessage } from 'node:http';
import { withoutCookie } from '../auth/credentials.js';
import { deflateOffers } from './websocket-extensions.js';

/** Headers some apps take as "who is logged in"; a client must never set them for a workspace. */
const IDENTITY_HEADERS = new Set(['x-workspace-user', 'x-remote-user', 'x-user', 'remote-user', 'x-auth-request-user', 'x-auth-request-email']);
/** The gateway's own headers (between cluster processes): never a workspace's business. */
const GATEWAY_HEADER_PREFIX = 'x-workspace-gateway-';

export interface ForwardContext {
  /** The gateway's cookies (LMS token, session): removed from what the workspace sees. */
  cookieNames: ReadonlySet<string>;
  /** `/ws/<user>` */
  prefix: string;
  /** Path (and query) the workspace sees. */
  path: string;
  proto: 'http' | 'https';
  /** The browser's host (from a trusted proxy, or our Host header). */
  host: string;
  /** The client's address (the socket's peer, or what a cluster worker said it was). */
  clientAddress: string;
  /** The peer is a trusted edge proxy: its X-Forwarded-For chain is kept and extended. */
  trustedPeer: boolean;
  requestId: string;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's own, never forwarded either way (except an upgrade's own). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** What goes to the workspace (or the leader): the path, and the headers as a flat [name, value, …] list. */
export interface Outgoing {
  path: string;
  headers: string[];
}

/**
 * The request as the workspace gets it: the LMS token never leaves the
 * gateway, client-supplied forwarding and identity headers are replaced by
 * the gateway's own, and Host is kept so code-server's own Origin check
 * passes. An upgrade keeps its Connection/Upgrade, and of its extension
 * offers only permessage-deflate, the one the gateway can read through
 * (websocket-extensions.ts).
 * Built in one pass into a new list: deleting from `req.headers` would make
 * every later reader of that object slower.
 */
export function toWorkspace(req: IncomingMessage, ctx: ForwardContext, upgrade: boolean): Outgoing {
  const headers = req.headers;
  const out: string[] = [];
  let chain: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.startsWith('x-forwarded-')) {
      if (name === 'x-forwarded-for' && ctx.trustedPeer) chain = Array.isArray(value) ? value.join(', ') : value;
      continue;
    }
    if (
      name === 'authorization' ||
      name === 'forwarded' ||
      name === 'x-real-ip' ||
      name === 'x-request-id' ||
      IDENTITY_HEADERS.has(name) ||
      name.startsWith(GATEWAY_HEADER_PREFIX)
    )
      continue;
    if (upgrade && name === 'sec-websocket-extensions') {
      const offers = deflateOffers(String(value));
      if (offers !== undefined) out.push(name, offers);
      continue;
    }
    if (!upgrade && (HOP_BY_HOP.has(name) || name === 'expect')) continue;
    if (name === 'cookie') {
      const kept = withoutCookie(value as string, ctx.cookieNames);
      if (kept !== undefined) out.push(name, kept);
      continue;
    }
    pushHeader(out, name, value);
  }
  const peer = ctx.clientAddress;
  out.push(
    'x-forwarded-for',
    chain ? `${chain}, ${peer}` : peer,
    'x-forwarded-proto',
    ctx.proto,
    'x-forwarded-host',
    ctx.host,
    'x-forwarded-prefix',
    ctx.prefix,
    'x-request-id',
    ctx.requestId,
  );
  return { path: ctx.path, headers: out };
}

/** The request line and headers as they go out; `extra` is added as they are (`name: value\r\n` lines). */
export function requestHead(method: string, { path, headers }: Outgoing, extra = ''): string {
  let text = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}${extra}\r\n`;
}

export function pushHeader(out: string[], name: string, value: string | string[]): void {
  if (Array.isArray(value)) for (const v of value) out.push(name, v);
  else out.push(name, value);
}
