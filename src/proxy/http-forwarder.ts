import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import { UpstreamError, UpstreamTimeoutError, type GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { HOP_BY_HOP, type Outgoing } from './forward-headers.js';

export type UpstreamFailure = 'refused' | 'reset' | 'timeout';

export interface HttpForwarderOptions {
  /** How long a workspace may take to send its response headers. */
  timeoutMs: number;
  onFailure: (user: string, kind: UpstreamFailure) => void;
  sendError: (req: IncomingMessage, res: ServerResponse, error: GatewayError) => void;
}

/**
 * Only undici's pool, not its index: the index also loads fetch, its caches
 * and more, about 7 MiB of idle RSS the gateway never uses. (undici has no
 * `exports` map; the lockfile pins the version, and the forwarding tests
 * fail at once if the file moves.)
 */
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOENT', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Forwards HTTP requests to workspaces through undici's connection pools, one
 * pool per workspace address. The response is streamed straight into the
 * client's response with backpressure both ways; a CPU profile of the
 * gateway put most of its cost in Node's http client, which undici halves
 * (measured: 124 vs 251 µs of CPU per proxied 1 KiB request). Each request
 * is dispatched with a small handler of our own rather than undici's stream
 * call, which watches the response with seven listeners and async hooks.
 */
export class HttpForwarder {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: HttpForwarderOptions) {}

  forward(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    const method = req.method ?? 'GET';
    this.pool(endpoint).dispatch(
      {
        path: outgoing.path,
        method,
        headers: outgoing.headers,
        // A GET or HEAD without a declared body has none; anything else streams through.
        body: (method === 'GET' || method === 'HEAD') && !req.headers['content-length'] && !req.headers['transfer-encoding'] ? null : req,
        headersTimeout: this.options.timeoutMs,
        // Long polls and downloads may pause for as long as they like.
        bodyTimeout: 0,
      },
      new Exchange(req, res, user, this.options),
    );
  }

  /** Closes the connections to a workspace that went away. */
  forget(endpoint: Endpoint): void {
    const key = keyOf(endpoint);
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.destroy().catch(() => {});
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }

  private pool(endpoint: Endpoint): Pool {
    const key = keyOf(endpoint);
    let pool = this.pools.get(key);
    if (!pool) {
      pool =
        'socketPath' in endpoint
          ? new Pool('http://localhost', { socketPath: endpoint.socketPath, connections: 32, keepAliveTimeout: 30_000 })
          : new Pool(`http://${endpoint.host}:${endpoint.port}`, { connections: 32, keepAliveTimeout: 30_000 });
      this.pools.set(key, pool);
    }
    return pool;
  }
}

function keyOf(endpoint: Endpoint): string {
  return 'socketPath' in endpoint ? endpoint.socketPath : `${endpoint.host}:${endpoint.port}`;
}

const EXCHANGE = Symbol('exchange');
type Answering = ServerResponse & { [EXCHANGE]: Exchange };

/**
 * One request in flight, as undici's handler: the workspace's answer head
 * goes to the client, the body follows with backpressure (undici pauses the
 * workspace's socket while the client's is full), and a client that leaves
 * aborts the request, so a paused download never holds a pooled connection.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private abort?: (err?: Error) => void;
  private resume?: () => void;
  private done = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly user: string,
    private readonly options: HttpForwarderOptions,
  ) {
    (res as Answering)[EXCHANGE] = this;
    res.on('drain', resumeExchange).on('close', closeExchange);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.res.destroyed) abort(new Error('the client went away'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx (100 Continue was answered by our own server) carry nothing for the client.
    if (statusCode < 200) return true;
    this.resume = resume;
    // The workspace's header bytes as they came (latin1 keeps every byte), without the hops.
    const kept: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (!HOP_BY_HOP.has(name.toLowerCase())) kept.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    this.res.writeHead(statusCode, kept);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
  }

  onError(error: Error): void {
    this.done = true;
    const { req, res, user, options } = this;
    // The client left: nothing to tell anyone.
    if (res.destroyed && !res.writableFinished && (req.destroyed || req.socket.destroyed)) return;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const kind: UpstreamFailure = code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : REFUSED.has(code) || REFUSED.has(causeCode(error)) ? 'refused' : 'reset';
    options.onFailure(user, kind);
    if (res.headersSent || res.destroyed) {
      // Part of the body is out: the client must see a broken response, not a short one.
      res.destroy();
      return;
    }
    options.sendError(req, res, kind === 'timeout' ? new UpstreamTimeoutError() : new UpstreamError());
  }

  drained(): void {
    this.resume?.();
  }

  closed(): void {
    if (!this.done) this.abort?.(new Error('the client went away'));
  }
}

function resumeExchange(this: Answering): void {
  this[EXCHANGE].drained();
}

function closeExchange(this: Answering): void {
  this[EXCHANGE].closed();
}

function causeCode(error: Error): string {
  const cause = (error as Error & { cause?: unknown }).cause;
  return typeof cause === 'object' && cause !== null ? String((cause as NodeJS.ErrnoException).code ?? '') : '';
}
