import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticated } from '../auth/authenticator.js';
import type { RequestContext } from '../http/request-context.js';

/** Who may make a call: every signed-in user (about themself), the workspace's owner or an admin, or admins only. */
export type Caller = 'user' | 'owner' | 'admin';

export interface Call {
  /** The caller, and `user`: the workspace the call is about (the caller's own for `/me` and the create call). */
  req: IncomingMessage;
  res: ServerResponse;
  auth: Authenticated;
  user: string;
  ctx: RequestContext;
  /** Path segments after `/api` (a `:name` in the pattern is the segment at its place). */
  segments: string[];
}

export interface ApiEndpoint {
  method: string;
  /** Path segments after `/api`; `:user` is a user id or `me`; another `:name` matches one segment, whatever it holds. */
  pattern: string[];
  who: Caller;
  /** An LMS frontend on another origin may make it (GATEWAY_LMS_ORIGINS). */
  cors?: true;
  handle: (call: Call) => Promise<void> | void;
}
