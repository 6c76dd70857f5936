import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/**
 * Logs a request once its response is done: answers of 400 and above always,
 * everything at debug level. `who` is read then (the user is known late).
 */
export function logWhenDone(logger: Logger, req: IncomingMessage, res: ServerResponse, who: () => { reqId: string; user?: string }, everything: boolean): void {
  const started = performance.now();
  // Taken now: forwarding rewrites req.url to the workspace's own path.
  const path = pathOnly(req.url);
  res.once('finish', () => {
    if (res.statusCode < 400 && !everything) return;
    logger[res.statusCode >= 500 ? 'warn' : 'info'](
      { ...who(), method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) },
      'request',
    );
  });
}

export function pathOnly(url: string | undefined): string {
  const q = url?.indexOf('?') ?? -1;
  return (q === -1 ? url : url!.slice(0, q)) ?? '';
}
