import { randomBytes } from 'node:crypto';
import { boundedCache } from '../bounded-cache.js';
import type { Identity } from './identity.js';

/** How long a launch link works: long enough for a new tab to open, too short to be worth stealing. */
export const LAUNCH_LINK_MS = 60_000;

/**
 * One-time launch links (SPEC §2a): the create call's `url` for a browser
 * that has no gateway cookie (the LMS frontend on another origin cannot
 * leave one). A link is a random code, never the LMS token; it is used up
 * by its first use and forgotten after a minute. Kept in this process: the
 * create call and the link's use both reach the leader of a cluster.
 */
export class LaunchLinks {
  private readonly codes = boundedCache<string, Pick<Identity, 'user' | 'admin'>>(50_000, { ttl: LAUNCH_LINK_MS });

  issue(identity: Pick<Identity, 'user' | 'admin'>): string {
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, { user: identity.user, admin: identity.admin });
    return code;
  }

  /** Who the link was made for, once; undefined for a used, expired or made-up code. */
  redeem(code: string): Pick<Identity, 'user' | 'admin'> | undefined {
    const identity = this.codes.get(code);
    if (identity) this.codes.delete(code);
    return identity;
  }
}
