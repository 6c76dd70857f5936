import { EngineUnavailableError, GatewayError, SpawnFailedError } from '../../errors.js';

/**
 * A request the engine answered with an error status; `engineStatus` lets
 * callers treat 404/304/409 as outcomes. Unexpected ones reach the client as
 * 502 saying what the gateway tried, never as a bare 500; the engine's own
 * words (host paths, mount sources, other containers) go to the log only.
 */
export class DockerEngineError extends GatewayError {
  constructor(
    readonly engineStatus: number,
    readonly engineMessage: string,
    what: string,
  ) {
    super(
      'engine_error',
      502,
      `The workspace engine refused to ${what}; staff can find why in the gateway's log.`,
      {},
      `${what}: ${engineStatus} ${engineMessage}`,
    );
  }
}

/**
 * Error codes of a request that got no answer at all: the socket is missing,
 * refused, reset (`socket hang up` is ECONNRESET), timed out or unreachable.
 */
const NO_ANSWER_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EACCES',
  'EPERM',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ABORT_ERR',
  'UND_ERR_SOCKET',
]);

/** Names of the errors an aborted or timed-out request ends with. */
const NO_ANSWER_NAMES = new Set(['AbortError', 'TimeoutError']);

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * The one place that decides what an engine failure means, by its status or
 * code: no answer at all is the engine being unavailable; an HTTP status is
 * the engine's own answer, kept with its message.
 */
export function toEngineError(what: string, err: unknown): Error {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const status = field(err, 'statusCode');
  if (typeof status === 'number') {
    const fromJson = field(field(err, 'json'), 'message');
    return new DockerEngineError(status, (typeof fromJson === 'string' ? fromJson : message).trim(), what);
  }
  const code = field(err, 'code');
  const name = field(err, 'name');
  if ((typeof code === 'string' && NO_ANSWER_CODES.has(code)) || (typeof name === 'string' && NO_ANSWER_NAMES.has(name))) {
    return new EngineUnavailableError(`${what}: ${typeof code === 'string' ? code : message}`);
  }
  return err instanceof Error ? err : new Error(`${what}: ${message}`);
}

/** The engine's status for a failure it answered, undefined for anything else. */
export const statusOf = (err: unknown): number | undefined => (err instanceof DockerEngineError ? err.engineStatus : undefined);

/**
 * What a user is told when their spawn fails: the gateway's own sentences
 * pass as they are; the engine's (or a library's) words become `detail`,
 * for the log.
 */
export function asSpawnFailure(err: unknown): GatewayError {
  if (err instanceof DockerEngineError)
    return new SpawnFailedError('the workspace engine refused to create or start the container; try again, and tell staff if it keeps happening.', err.detail);
  if (err instanceof GatewayError) return err;
  return new SpawnFailedError(
    'something went wrong while the container was prepared; try again, and tell staff if it keeps happening.',
    err instanceof Error ? err.message : String(err),
  );
}
