import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { boundedCache } from '../bounded-cache.js';
import type { Identity } from './identity.js';
import { isUserId } from './user-id.js';

/** A gateway session: who, since when, and when the browser last renewed its cookie (epoch ms). */
export interface Session {
  id: string;
  user: string;
  admin: boolean;
  startedAt: number;
  renewedAt: number;
}

export interface SessionOptions {
  key: Uint8Array;
  idleMs: number;
  maxAgeMs: number;
  now?: () => number;
}

/**
 * Gateway sessions (SPEC §2a): the LMS token is only the way in; a cookie
 * signed with the gateway's key then carries the student for hours. The
 * cookie is self-contained (every replica, and a restarted gateway, reads it), so only what
 * cannot live in it is kept here: activity seen since the cookie was last
 * renewed (a student typing over a WebSocket sends no cookie) and sessions
 * ended by a logout. Both are per process; see the README for what that means.
 *
 * Everything is synchronous: the hot path reads a known session with a cache
 * lookup and two comparisons.
 */
export class Sessions {
  readonly idleMs: number;
  readonly maxAgeMs: number;
  private readonly key: Uint8Array;
  private readonly now: () => number;
  /** Cookie value → session, for values whose signature checked out. */
  private readonly verified = boundedCache<string, Session>(20_000);
  /** Session id → epoch ms of its last activity. */
  private readonly activity = boundedCache<string, number>(100_000);
  /** Ids of sessions logged out, kept until they would have ended anyway. */
  private readonly ended = boundedCache<string, true>(100_000);
  /** A cookie older than this is renewed with the next answer: often enough for the idle rule, rarely enough to be free. */
  private readonly renewAfterMs: number;

  constructor(options: SessionOptions) {
    this.key = options.key;
    this.idleMs = options.idleMs;
    this.maxAgeMs = options.maxAgeMs;
    this.now = options.now ?? Date.now;
    this.renewAfterMs = Math.min(options.idleMs / 10, 5 * 60_000);
  }

  /** A new session for someone the LMS just vouched for. */
  start(identity: Pick<Identity, 'user' | 'admin'>): Session {
    const now = this.now();
    return { id: randomBytes(16).toString('base64url'), user: identity.user, admin: identity.admin, startedAt: now, renewedAt: now };
  }

  /** The session a cookie value holds, if it is ours, unaltered and still live; never throws. */
  read(value: string): Session | undefined {
    let session = this.verified.get(value);
    if (!session) {
      session = this.decode(value);
      if (!session) return undefined;
      this.verified.set(value, session);
    }
    return this.isLive(session) ? session : undefined;
  }

  isLive(session: Session, now = this.now()): boolean {
    if (now >= this.endsAt(session) || this.ended.has(session.id)) return false;
    return now < Math.max(session.renewedAt, this.activity.get(session.id) ?? 0) + this.idleMs;
  }

  /** The absolute end: nothing renews a session past it. */
  endsAt(session: Pick<Session, 'startedAt'>): number {
    return session.startedAt + this.maxAgeMs;
  }

  /** The student did something in this session (a request, a WebSocket message). */
  touch(id: string, at = this.now()): void {
    if ((this.activity.get(id) ?? 0) < at) this.activity.set(id, at);
  }

  /** Logged out: refused from now on, in this process, even with a copy of the cookie. */
  end(session: Pick<Session, 'id' | 'startedAt'>): void {
    this.ended.set(session.id, true, { ttl: Math.max(1, this.endsAt(session) - this.now()) });
  }

  /** The session renewed now, when its cookie is old enough to be worth a new one; else undefined. */
  renewal(session: Session): Session | undefined {
    const now = this.now();
    return now - session.renewedAt >= this.renewAfterMs ? { ...session, renewedAt: now } : undefined;
  }

  /** The cookie value: the session as JSON, base64url, and its HMAC-SHA256. */
  encode(session: Session): string {
    const body = Buffer.from(JSON.stringify([1, session.id, session.user, session.admin ? 1 : 0, session.startedAt, session.renewedAt])).toString('base64url');
    return `${body}.${this.sign(body).toString('base64url')}`;
  }

  /** Seconds the cookie should be kept by the browser: until the absolute end. */
  cookieMaxAge(session: Session): number {
    return Math.max(0, Math.floor((this.endsAt(session) - this.now()) / 1000));
  }

  private sign(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest();
  }

  private decode(value: string): Session | undefined {
    const dot = value.indexOf('.');
    if (dot <= 0 || value.length > 512) return undefined;
    const body = value.slice(0, dot);
    const mac = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = this.sign(body);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    let fields: unknown;
    try {
      fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!Array.isArray(fields) || fields.length !== 6 || fields[0] !== 1) return undefined;
    const [, id, user, admin, startedAt, renewedAt] = fields as unknown[];
    if (typeof id !== 'string' || typeof user !== 'string' || !isUserId(user)) return undefined;
    if (typeof startedAt !== 'number' || typeof renewedAt !== 'number' || renewedAt < startedAt) return undefined;
    return { id, user, admin: admin === 1, startedAt, renewedAt };
  }
}
