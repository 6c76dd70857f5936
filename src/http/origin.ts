import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { peerAddress } from './peer.js';

export interface OriginPolicy {
  /** Configured public base URL, e.g. https://lms.example.edu */
  publicUrl?: string;
  allowedOrigins: string[];
  /** Whether the peer is a trusted edge proxy whose X-Forwarded-* headers count. */
  trustsPeer: (address: string | undefined) => boolean;
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

/** The host the browser used. */
export function requestHost(req: IncomingMessage, policy: OriginPolicy): string {
  const told = policy.trustsPeer(peerAddress(req)) ? single(req.headers['x-forwarded-host']) : undefined;
  return told || req.headers.host || 'localhost';
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
