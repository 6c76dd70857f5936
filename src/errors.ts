/**
 * Every failure the gateway answers with is a GatewayError: a stable `code`
 * callers branch on, the HTTP status, and a sentence a person can act on.
 * `src/http/respond.ts` turns them into JSON or HTML in one place.
 * `detail` is for the log only: an engine's or library's own words can name
 * host paths, container ids or other users, so they never reach a client.
 */
export class GatewayError extends Error {
  constructor(
    readonly code: string,
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
  constructor(message: string, code = 'bad_request') {
    super(code, 400, message);
  }
}

export class UnauthorizedError extends GatewayError {
  constructor(message = 'Sign in to open your workspace.', code = 'unauthorized') {
    super(code, 401, message);
  }
}

export class ForbiddenError extends GatewayError {
  constructor(message = 'This workspace belongs to another user.', code = 'forbidden') {
    super(code, 403, message);
  }
}

export class UriTooLongError extends GatewayError {
  constructor() {
    super('uri_too_long', 414, 'The address is too long.');
  }
}

export class NotFoundError extends GatewayError {
  constructor(message = 'Nothing is served at this address.', code = 'not_found') {
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
    super(
      'workspace_not_running',
      503,
      `The workspace of ${user} is not running; open it in the browser or start it through the API.`,
      { 'Retry-After': '5' },
    );
  }
}

export class SpawnTimeoutError extends GatewayError {
  constructor(seconds: number) {
    super(
      'spawn_timeout',
      503,
      `The workspace did not become ready within ${seconds} seconds; try again, and tell staff if it keeps happening.`,
      { 'Retry-After': '5' },
    );
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
