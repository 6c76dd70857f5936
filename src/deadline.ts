/**
 * A promise, or what `late` makes of the wait once `ms` have passed (a
 * value to go on with, or a thrown error): the one way the gateway stops
 * waiting for something. The timer is cleared either way, and the promise's
 * own failure after the deadline is not left unhandled.
 */
export async function beforeDeadline<T, L>(promise: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  promise.catch(() => {});
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
