/**
 * Every failure the gateway answers with is a GatewayError: a stable `code`
 * callers branch on, the HTTP status, and a sentence a person can act on.
 * `src/http/respond.ts` turns them into JSON or HTML in one place.
 * `detail` is for the log only: an engine's or library's own words can name
 * host paths, container ids or other users, so they never reach a client.
 */
/** Every code a client can see; callers branch on these, never on message text. */
export type ErrorCode =
  | 'bad_request'
  | 'bad_user'
  | 'bad_path'
  | 'bad_host'
  | 'bad_archive'
  | 'bad_json'
  | 'prewarm_in_past'
  | 'state_unavailable'
  | 'unauthorized'
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'session_expired'
  | 'ambiguous_credentials'
  | 'launch_invalid'
  | 'forbidden'
  | 'admin_only'
  | 'cross_site'
  | 'bad_origin'
  | 'not_found'
  | 'no_workspace'
  | 'method_not_allowed'
  | 'body_timeout'
  | 'restore_timeout'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'rate_limited'
  | 'too_many_connections'
  | 'too_many_websockets'
  | 'internal_error'
  | 'no_storage'
  | 'not_supported'
  | 'engine_error'
  | 'upstream_error'
  | 'engine_unavailable'
  | 'workspace_not_running'
  | 'capacity_full'
  | 'spawn_failed'
  | 'spawn_timeout'
  | 'upstream_timeout';

export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly detail?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends GatewayError {
  constructor(message: string, code: ErrorCode = 'bad_request') {
    super(code, 400, message);
  }
}

export class UnauthorizedError extends GatewayError {
  constructor(message = 'Sign in to open your workspace.', code: ErrorCode = 'unauthorized') {
    super(code, 401, message);
  }
}

export class ForbiddenError extends GatewayError {
  constructor(message = 'This workspace belongs to another user.', code: ErrorCode = 'forbidden') {
    super(code, 403, message);
  }
}

export class UriTooLongError extends GatewayError {
  constructor() {
    super('uri_too_long', 414, 'The address is too long.');
  }
}

export class NotFoundError extends GatewayError {
  constructor(message = 'Nothing is served at this address.', code: ErrorCode = 'not_found') {
    super(code, 404, message);
  }
}

/** The container engine (Docker socket, Swarm manager) did not answer. */
export class EngineUnavailableError extends GatewayError {
  constructor(detail?: string) {
    super('engine_unavailable', 503, 'The workspace engine is not reachable right now; try again in a minute.', { 'Retry-After': '10' }, detail);
  }
}

/** The workspace is stopped and this request is not allowed to wake it (SPEC §3). */
export class WorkspaceNotRunningError extends GatewayError {
  constructor(user: string) {
    super('workspace_not_running', 503, `The workspace of ${user} is not running; open it in the browser or start it through the API.`, { 'Retry-After': '5' });
  }
}

export class SpawnTimeoutError extends GatewayError {
  constructor(seconds: number) {
    super('spawn_timeout', 503, `The workspace did not become ready within ${seconds} seconds; try again, and tell staff if it keeps happening.`, {
      'Retry-After': '5',
    });
  }
}

/** `reason` is the gateway's own words (shown to the user); `detail` an engine's (logged only). */
export class SpawnFailedError extends GatewayError {
  constructor(reason: string, detail?: string) {
    super('spawn_failed', 503, `The workspace could not be started: ${reason}`, { 'Retry-After': '5' }, detail);
  }
}

export class CapacityError extends GatewayError {
  constructor(message = 'All workspace slots are in use right now; try again in a few minutes.') {
    super('capacity_full', 503, message, { 'Retry-After': '30' });
  }
}

export class UpstreamError extends GatewayError {
  constructor(message = 'The workspace did not answer properly; try again.') {
    super('upstream_error', 502, message);
  }
}

export class UpstreamTimeoutError extends GatewayError {
  constructor() {
    super('upstream_timeout', 504, 'The workspace took too long to answer; try again.');
  }
}

/** Anything thrown that is not a GatewayError: its text never reaches a client. */
export class InternalError extends GatewayError {
  constructor() {
    super('internal_error', 500, 'Something went wrong in the gateway; try again.');
  }
}

export class MethodNotAllowedError extends GatewayError {
  constructor(allow: string[]) {
    super('method_not_allowed', 405, `Use ${allow.join(' or ')} here.`, { Allow: allow.join(', ') });
  }
}

export class PayloadTooLargeError extends GatewayError {
  constructor(limit: number) {
    super('payload_too_large', 413, `This call takes a body of at most ${limit} bytes.`);
  }
}

export class RequestBodyTimeoutError extends GatewayError {
  constructor(timeoutMs: number) {
    super(
      'body_timeout',
      408,
      `The request body stopped arriving for ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} seconds` : `${timeoutMs} ms`}; the request was cut off. Try again.`,
    );
  }
}

export class RestoreTimeoutError extends GatewayError {
  constructor(limitMs: number) {
    super(
      'restore_timeout',
      408,
      `The restore did not finish within ${Math.round(limitMs / 60_000) || 1} minutes (GATEWAY_RESTORE_TIMEOUT); nothing more was read. Try again, or raise the limit.`,
    );
  }
}

export class RateLimitedError extends GatewayError {
  constructor(retryAfterSeconds: number) {
    super('rate_limited', 429, `Too many start or stop calls; wait ${retryAfterSeconds} seconds before the next one.`, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

export class TooManyConnectionsError extends GatewayError {
  constructor(max: number) {
    super('too_many_connections', 429, `Your address already has ${max} connections open to the gateway; close some tabs or wait a moment, then try again.`, {
      'Retry-After': '5',
    });
  }
}

export class TooManyWebSocketsError extends GatewayError {
  constructor(max: number) {
    super('too_many_websockets', 429, `You already have ${max} live connections to your workspace open; close some editor tabs, then reload this one.`, {
      'Retry-After': '10',
    });
  }
}

/** The runtime keeps no files the gateway can read (it has no storage part). */
export class NoStorageError extends GatewayError {
  constructor() {
    super('no_storage', 501, 'This runtime keeps no files the gateway can read, so there is nothing to back up or restore here.');
  }
}

/** The state folder could not be written: what needed it (a pre-warm job) was not made. */
export class StateUnavailableError extends GatewayError {
  constructor(detail: string) {
    super(
      'state_unavailable',
      503,
      'The gateway cannot save the job in its state folder (GATEWAY_STATE_DIR); nothing was scheduled. Tell the operator.',
      { 'Retry-After': '30' },
      detail,
    );
  }
}
