import type { IncomingHttpHeaders } from 'node:http';

/** A page load in a browser: the only request (besides an API start) that may wake a workspace. */
export function isPageLoad(headers: IncomingHttpHeaders): boolean {
  const mode = headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return acceptsHtml(headers);
}

export function acceptsHtml(headers: IncomingHttpHeaders): boolean {
  return (headers.accept ?? '').includes('text/html');
}

/** Answers go out as JSON unless the client is a browser asking for a page. */
export function wantsJson(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept ?? '';
  return accept.includes('application/json') || !accept.includes('text/html');
}
