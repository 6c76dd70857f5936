import type { Logger } from 'pino';

/**
 * `work`, or a rejection with the signal's reason as soon as `signal`
 * aborts: the caller stops waiting at once. Undoing what `work` did is the
 * caller's, once `work` has settled; its own late failure is not left
 * unhandled.
 */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Whether one start changed the workspace (created, started, scaled it up), so a start given up knows there is something to undo. */
export interface Attempt {
  changed: boolean;
}

/**
 * A start given up: once its engine request in flight (`work`) has ended,
 * `undo` what it changed (stop the container, scale the service back), and
 * log either way; nothing is left unhandled.
 */
export function undoOnceSettled(work: Promise<unknown>, attempt: Attempt, undo: () => Promise<void>, logger: Logger, user: string): void {
  void work
    .catch(() => undefined)
    .then(async () => {
      if (!attempt.changed) return;
      await undo();
      logger.info({ user }, 'undid a workspace start that was given up');
    })
    .catch((err: unknown) => logger.warn({ user, err }, 'could not undo a workspace start that was given up'));
}
