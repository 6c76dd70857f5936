import { boundedCache } from '../bounded-cache.js';
import { RateLimitedError } from '../errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per user for calls that start or stop containers, so a script
 * looping on "start" cannot churn the engine. Bounded: the least recently seen
 * users are forgotten first.
 */
export class RateLimiter {
  private readonly buckets = boundedCache<string, Bucket>(50_000);

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws RateLimitedError when the user has no call left right now. */
  take(user: string): void {
    if (this.perMinute <= 0) return;
    const now = this.now();
    const refill = this.perMinute / 60_000;
    const bucket = this.buckets.get(user) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * refill);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.buckets.set(user, bucket);
      throw new RateLimitedError(Math.ceil((1 - bucket.tokens) / refill / 1000));
    }
    bucket.tokens -= 1;
    this.buckets.set(user, bucket);
  }
}
