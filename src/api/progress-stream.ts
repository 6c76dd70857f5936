import type { ServerResponse } from 'node:http';
import type { SpawnProgress } from '../workspaces/spawn-progress.js';
import type { WorkspaceManager } from '../workspaces/manager.js';

const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events for the starting page: the current progress at once,
 * then each step, ending with `ready` or `failed`. Ends by itself after
 * `limitMs` so a forgotten tab does not hold a connection for ever.
 */
export function streamProgress(res: ServerResponse, manager: WorkspaceManager, user: string, limitMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const finish = () => {
    unsubscribe();
    clearInterval(heartbeat);
    clearTimeout(limit);
    res.end();
  };
  const settle = (progress: SpawnProgress | undefined): boolean => {
    const ws = manager.get(user);
    if (progress?.phase === 'ready' || (ws?.state === 'running' && !ws.pending && manager.endpointOf(user))) {
      send('ready', { message: 'Ready' });
      return true;
    }
    if (progress?.phase === 'failed' || (!ws?.pending && ws?.state === 'error')) {
      send('failed', { message: progress?.phase === 'failed' ? progress.message : (ws?.reason ?? 'The workspace stopped.') });
      return true;
    }
    if (!ws?.pending && progress === undefined) {
      // Nothing in flight: the page reloads, and its page load starts one.
      send('failed', { message: 'The workspace is not starting; press Try again.' });
      return true;
    }
    return false;
  };
  const onProgress = (who: string, progress: SpawnProgress) => {
    if (who !== user) return;
    if (settle(progress)) finish();
    else send('progress', progress);
  };
  const heartbeat = setInterval(() => res.write(': still here\n\n'), HEARTBEAT_MS);
  const limit = setTimeout(finish, limitMs);
  const unsubscribe = manager.onProgress(onProgress);
  res.once('close', finish);
  const current = manager.get(user)?.progress;
  if (settle(manager.get(user)?.pending ? undefined : current)) return finish();
  if (current) send('progress', current);
}
