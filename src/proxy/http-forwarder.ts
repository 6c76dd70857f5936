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
 * Only undici's pool and its stream call, not its index: the index also
 * loads fetch, its caches and more, about 7 MiB of idle RSS the gateway
 * never uses. (undici has no `exports` map; the lockfile pins the version,
 * and the forwarding tests fail at once if these files move.)
 */
const load = createRequire(import.meta.url);
const Pool = load('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;
const stream = load('undici/lib/api/api-stream.js') as (
  this: Pool,
  options: Dispatcher.RequestOptions<Exchange>,
  factory: Dispatcher.StreamFactory<Exchange>,
  callback: (err: Error | null, data: Dispatcher.StreamData<Exchange>) => void,
) => void;

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOENT', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Forwards HTTP requests to workspaces through undici's connection pools, one
 * pool per workspace address. The response is streamed straight into the
 * client's response with backpressure both ways; a CPU profile of the
 * gateway put most of its cost in Node's http client, which undici halves
 * (measured: 124 vs 251 µs of CPU per proxied 1 KiB request).
 */
export class HttpForwarder {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: HttpForwarderOptions) {}

  forward(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    const method = req.method ?? 'GET';
    const exchange: Exchange = { req, res, user, options: this.options };
    stream.call(
      this.pool(endpoint),
      {
        path: outgoing.path,
        method,
        headers: outgoing.headers,
        // A GET or HEAD without a declared body has none; anything else streams through.
        body: (method === 'GET' || method === 'HEAD') && !req.headers['content-length'] && !req.headers['transfer-encoding'] ? null : req,
        headersTimeout: this.options.timeoutMs,
        // Long polls and downloads may pause for as long as they like.
        bodyTimeout: 0,
        opaque: exchange,
        // The answer's header list as it came (names in their own case), for writeHead.
        responseHeaders: 'raw',
      },
      respond,
      finished,
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

/** One request in flight: what `respond` and `finished` need, carried as undici's opaque. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  user: string;
  options: HttpForwarderOptions;
}

/**
 * The workspace's answer head goes to the client; undici then streams the
 * body into the client's response with backpressure, and aborts the request
 * to the workspace when the client goes away.
 */
function respond({ statusCode, headers, opaque }: Dispatcher.StreamFactoryData<Exchange>): ServerResponse {
  // With `responseHeaders: 'raw'` undici gives a flat [name, value, …] list, which writeHead takes as it is.
  const raw = headers as unknown as string[];
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!HOP_BY_HOP.has(name.toLowerCase())) kept.push(name, raw[i + 1]!);
  }
  opaque.res.writeHead(statusCode, kept);
  return opaque.res;
}

function finished(this: void, error: Error | null, data: Dispatcher.StreamData<Exchange>): void {
  if (!error) return;
  const { req, res, user, options } = data.opaque;
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

function causeCode(error: Error): string {
  const cause = (error as Error & { cause?: unknown }).cause;
  return typeof cause === 'object' && cause !== null ? String((cause as NodeJS.ErrnoException).code ?? '') : '';
}
