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
