import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/load.js';
import { ForbiddenError } from '../errors.js';
import { peerAddress } from './peer.js';
import { createProxyTrust } from './proxy-trust.js';

export interface OriginPolicy {
  /** Configured public base URL, e.g. https://lms.example.edu */
  publicUrl?: string;
  allowedOrigins: string[];
  /** Whether the peer is a trusted edge proxy whose X-Forwarded-* headers count. */
  trustsPeer: (address: string | undefined) => boolean;
}

/** The policy an operator configured: public URL, extra origins, trusted edge proxies. */
export function originPolicyOf(config: Config): OriginPolicy {
  return { publicUrl: config.public_url, allowedOrigins: config.allowed_origins, trustsPeer: createProxyTrust(config.trusted_proxies) };
}

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();

/** The scheme the browser used: the configured public URL, a trusted proxy's word, or our own socket. */
export function requestProto(req: IncomingMessage, policy: OriginPolicy): 'http' | 'https' {
  if (policy.publicUrl) return policy.publicUrl.startsWith('https:') ? 'https' : 'http';
  if (policy.trustsPeer(peerAddress(req))) {
    const told = single(req.headers['x-forwarded-proto']);
    if (told === 'https' || told === 'http') return told;
  }
  return (req.socket as TLSSocket).encrypted ? 'https' : 'http';
}

/** A trusted proxy's word on the host the browser used, if it gave one. */
export function forwardedHost(req: IncomingMessage, policy: OriginPolicy): string | undefined {
  return (policy.trustsPeer(peerAddress(req)) && single(req.headers['x-forwarded-host'])) || undefined;
}

/** The host the browser used (checked by hostRefusal before any request gets this far). */
export function requestHost(req: IncomingMessage, policy: OriginPolicy): string {
  return forwardedHost(req, policy) || req.headers.host || 'localhost';
}

/** The gateway's own origin as the browser sees it. */
export function publicOrigin(req: IncomingMessage, policy: OriginPolicy): string {
  if (policy.publicUrl) return new URL(policy.publicUrl).origin;
  return `${requestProto(req, policy)}://${requestHost(req, policy)}`;
}

/**
 * Cross-site WebSocket hijacking and cross-site API calls are refused: a
 * browser's `Origin` must be ours or an allowed one. Without a configured
 * public URL only the host is compared, since a TLS edge proxy changes the
 * scheme. Requests without `Origin` are not from a browser page and carry on
 * to the usual authentication.
 */
export function originAllowed(req: IncomingMessage, policy: OriginPolicy): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (policy.allowedOrigins.includes(origin)) return true;
  if (policy.publicUrl) return origin === new URL(policy.publicUrl).origin;
  try {
    return new URL(origin).host === requestHost(req, policy);
  } catch {
    return false;
  }
}

/**
 * A state-changing request into a workspace that a page on another site made
 * (a form or fetch from a sibling site sends the SameSite=Lax cookie, and
 * `same-site` is not `same-origin`). Passes: methods that only read (a
 * top-level navigation from the LMS must still open and wake the workspace),
 * `Sec-Fetch-Site: same-origin` or `none` (the user typed or bookmarked it),
 * an Origin that is ours or allowed, and requests with neither header (not
 * from a browser). The method is checked first: reads cost one comparison.
 */
export function isCrossSiteWrite(req: IncomingMessage, policy: OriginPolicy): boolean {
  const method = req.method;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  const site = req.headers['sec-fetch-site'];
  if (site === 'same-origin' || site === 'none') return false;
  if (req.headers.origin === undefined) return site !== undefined;
  return !originAllowed(req, policy);
}

/** The one refusal of a cross-site write, into a workspace or to the API. */
export function refuseCrossSiteWrite(req: IncomingMessage, policy: OriginPolicy): void {
  if (isCrossSiteWrite(req, policy)) throw new ForbiddenError('Another site may not send this; open the page itself and try again there.', 'cross_site');
}
