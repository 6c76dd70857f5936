import type { IncomingMessage } from 'node:http';
import { ForbiddenError } from '../errors.js';
import { originAllowed, type OriginPolicy } from '../http/origin.js';

/**
 * State-changing API calls carry the user's cookie automatically, so a page on
 * another site could make them. Browsers say where a request comes from
 * (`Origin`, `Sec-Fetch-Site`): only the gateway's own origin and the
 * configured ones (e.g. the LMS frontend) may make them.
 */
export function refuseCrossSite(req: IncomingMessage, policy: OriginPolicy): void {
  const origin = req.headers.origin;
  const listed = origin !== undefined && policy.allowedOrigins.includes(origin);
  if (!originAllowed(req, policy) || (req.headers['sec-fetch-site'] === 'cross-site' && !listed)) {
    throw new ForbiddenError('This call may not be made from another site.', 'cross_site');
  }
}
