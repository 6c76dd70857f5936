import { setTimeout as sleep } from 'node:timers/promises';
import { statusOf } from '../engine/engine-errors.js';

/**
 * `call`, tried again while it fails with one of the engine statuses in
 * `on` (every failure when `on` is empty) and `forMs` has not passed: swarm
 * settles some things a moment after it answered (a removed task still holds
 * its network or volume, a network left a moment ago is still being torn down).
 */
export async function retrying<T>(call: () => Promise<T>, forMs: number, on: number[] = []): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let round = 1; ; round++) {
    try {
      return await call();
    } catch (err) {
      const status = statusOf(err);
      if ((on.length > 0 && (status === undefined || !on.includes(status))) || Date.now() > deadline) throw err;
      await sleep(Math.min(100 * round, 500));
    }
  }
}
