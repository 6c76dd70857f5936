import type { Logger } from 'pino';
import type { RuntimeEvent, WorkspaceInfo } from '../runtime.js';

/**
 * Runtime events from listing: a manager's event stream tells about
 * services and nodes, but not about tasks (a crash on a worker, an editor
 * that exited), so the workspaces are listed (services, their tasks, the
 * nodes: three calls) and compared with the last listing — at once when the
 * manager reports a service or node change (`nudges`), else every
 * `intervalMs`. A workspace that comes back (its node returned) has no event
 * of its own: that, and a listing after a failed one, is a `gap`, so the
 * consumer lists again.
 */
export async function* pollEvents(
  list: () => Promise<WorkspaceInfo[]>,
  nudges: AsyncIterable<unknown>,
  intervalMs: number,
  signal: AbortSignal,
  logger: Logger,
): AsyncIterable<RuntimeEvent> {
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const _ of nudges) wake?.();
  })().catch((err: unknown) => logger.warn({ err }, 'manager events ended; listing on the interval only'));
  let last: Map<string, WorkspaceInfo> | undefined;
  let failed = false;
  while (!signal.aborted) {
    try {
      const now = new Map((await list()).map((info) => [info.user, info]));
      if (failed) yield { kind: 'gap' };
      else if (last) yield* changes(last, now);
      last = now;
      failed = false;
    } catch (err) {
      if (!failed) logger.warn({ err }, 'listing the swarm for events failed; trying again');
      failed = true;
    }
    if (signal.aborted) break;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, intervalMs);
      signal.addEventListener('abort', done, { once: true });
      wake = done;
    });
  }
}

function* changes(before: Map<string, WorkspaceInfo>, now: Map<string, WorkspaceInfo>): Iterable<RuntimeEvent> {
  let cameBack = false;
  for (const [user, was] of before) {
    const is = now.get(user);
    if (!is) {
      yield { kind: 'removed', user, ...(was.id ? { id: was.id } : {}) };
      continue;
    }
    if (was.state !== 'running' && was.state !== 'creating') {
      if (was.state === 'error' && (is.state === 'running' || is.state === 'stopped')) cameBack = true;
      continue;
    }
    if (was.state === 'running' && is.state === 'running' && is.id === was.id) continue;
    const id = was.id ? { id: was.id } : {};
    if (is.state === 'error') yield { kind: 'died', user, ...id, ...(is.reason ? { reason: is.reason } : {}) };
    else if (is.state === 'stopped') yield { kind: 'stopped', user, ...id };
  }
  if (cameBack) yield { kind: 'gap' };
}
