import Docker from 'dockerode';
import { beforeDeadline } from '../../deadline.js';
import { statusOf, toEngineError } from './engine-errors.js';

const PING_TIMEOUT_MS = 3_000;

class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${Math.round(ms / 100) / 10} s`);
    this.name = 'TimeoutError';
  }
}

/**
 * A Docker Engine API (a single engine or a Swarm manager) where every
 * request has a deadline and fails as a typed error (see engine-errors.ts).
 */
export class EngineClient {
  constructor(
    readonly docker: Docker,
    /** Longest wait for one request (the event stream excepted). */
    readonly requestTimeoutMs: number,
  ) {}

  /**
   * Runs one engine request with a deadline and maps its failure. Requests
   * get the abort signal where dockerode passes it on; the deadline covers
   * those where it does not, so no caller ever waits on a silent engine.
   */
  async call<T>(what: string, request: (signal: AbortSignal) => Promise<T>, timeoutMs = this.requestTimeoutMs): Promise<T> {
    const controller = new AbortController();
    try {
      return await beforeDeadline(request(controller.signal), timeoutMs, () => {
        controller.abort();
        throw new RequestTimeout(timeoutMs);
      });
    } catch (err) {
      throw toEngineError(what, err);
    }
  }

  /** Like call(), but a 404 (no such container, volume, network) is `undefined`. */
  async find<T>(what: string, request: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(what, request);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Throws EngineUnavailableError when the engine does not answer. */
  async ping(): Promise<void> {
    // dockerode's types omit ping's options; its code passes the abort signal on.
    const ping = this.docker.ping.bind(this.docker) as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
    await this.call('ping', (abortSignal) => ping({ abortSignal }), PING_TIMEOUT_MS);
  }
}
