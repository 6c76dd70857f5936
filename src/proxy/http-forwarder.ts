import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpstreamError, UpstreamTimeoutError, type GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { HOP_BY_HOP, type Outgoing } from './forward-headers.js';
import { injectablePage, MAX_INJECTED_PAGE_BYTES, withTag, type PageEncoding } from './page-injection.js';
import { bodyUnread } from './request-body.js';
import { endpointKey, type UpstreamFailure } from './upstream.js';
import { UpstreamConnection, type ResponseSink } from './upstream-connection.js';

export interface HttpForwarderOptions {
  /** How long a workspace may take to send its response headers. */
  timeoutMs: number;
  onFailure: (user: string, kind: UpstreamFailure) => void;
  sendError: (req: IncomingMessage, res: ServerResponse, error: GatewayError) => void;
  /** The gateway's own cookies: a workspace's `Set-Cookie` for one of them is dropped (it would sign the browser in as someone else). */
  gatewayCookies: ReadonlySet<string>;
}

/** Idle connections kept per workspace, and for how long: less than Node's 5 s keep-alive, so the gateway closes first. */
const MAX_IDLE = 256;
const IDLE_MS = 4000;

/**
 * Forwards HTTP requests to workspaces over keep-alive connections, one
 * small pool per workspace address, with Node's native HTTP parser (see
 * upstream-connection.ts). The answer is streamed straight into the client's
 * response with backpressure both ways. (The measured way here is in the README.)
 */
export class HttpForwarder {
  private readonly pools = new Map<string, UpstreamPool>();
  /**
   * One timer for every deadline (answer heads, idle connections), checked a
   * few times per timeout: a timer per request or socket costs more than the
   * forwarding itself.
   */
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: HttpForwarderOptions) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, options.timeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * `setCookie`: the gateway's own cookie for the answer (a session started or renewed).
   * `tag`: HTML to add before `</head>` when the answer is an HTML page (see page-injection.ts).
   */
  forward(req: IncomingMessage, res: ServerResponse, user: string, endpoint: Endpoint, outgoing: Outgoing, setCookie?: string, tag?: string): void {
    const key = endpointKey(endpoint);
    let pool = this.pools.get(key);
    if (!pool) this.pools.set(key, (pool = new UpstreamPool(endpoint)));
    new Exchange(req, res, user, this.options, pool, outgoing, setCookie, tag).start();
  }

  private sweep(): void {
    const now = Date.now();
    for (const pool of this.pools.values()) pool.sweep(now);
  }

  /** Closes the connections to a workspace that went away. */
  forget(endpoint: Endpoint): void {
    const key = endpointKey(endpoint);
    this.pools.get(key)?.destroy();
    this.pools.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }
}

/** A workspace's connections: idle ones are reused newest first (the least likely to be closed under us). */
class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();

  constructor(private readonly endpoint: Endpoint) {}

  take(): UpstreamConnection {
    const idle = this.idle.pop();
    if (idle) return idle;
    const connection = new UpstreamConnection(
      this.endpoint,
      (c) => this.release(c),
      (c) => this.gone(c),
    );
    this.open.add(connection);
    return connection;
  }

  destroy(): void {
    for (const connection of this.open) connection.destroy();
  }

  /** Answers overdue, and connections idle so long the workspace may close them under us. */
  sweep(now: number): void {
    for (const connection of this.open) {
      if (connection.deadline !== 0 && now > connection.deadline) connection.timedOut();
    }
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince > IDLE_MS) this.idle.shift()!.destroy();
  }

  private release(connection: UpstreamConnection): void {
    if (this.idle.length >= MAX_IDLE) return connection.destroy();
    connection.idleSince = Date.now();
    this.idle.push(connection);
  }

  private gone(connection: UpstreamConnection): void {
    this.open.delete(connection);
    const i = this.idle.indexOf(connection);
    if (i !== -1) this.idle.splice(i, 1);
  }
}

const EXCHANGE = Symbol('exchange');
type Answering = ServerResponse & { [EXCHANGE]: Exchange };

/** An HTML answer held back whole to add a tag to it: its head as it will go out, and the body so far. */
interface HeldPage {
  statusCode: number;
  headers: string[];
  encoding: PageEncoding;
  chunks: Buffer[];
  bytes: number;
}

/** Headers that no longer describe a page once a tag is added to it (uncompressed, longer, other bytes). */
const CHANGED_BY_TAG: ReadonlySet<string> = new Set(['content-length', 'content-encoding', 'etag', 'content-md5']);

/**
 * One request in flight: the workspace's answer head goes to the client, the
 * body follows with backpressure (the workspace's socket pauses while the
 * client's is full), and a client that leaves takes the connection with it,
 * so a paused download never holds a pooled connection. With a `tag`, an
 * HTML answer is held back instead (up to MAX_INJECTED_PAGE_BYTES), and goes
 * out uncompressed with the tag in it.
 */
class Exchange implements ResponseSink {
  private connection?: UpstreamConnection;
  private done = false;
  private retried = false;
  private held?: HeldPage;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly user: string,
    private readonly options: HttpForwarderOptions,
    private readonly pool: UpstreamPool,
    private readonly outgoing: Outgoing,
    private readonly setCookie: string | undefined,
    private readonly tag: string | undefined,
  ) {}

  start(): void {
    (this.res as Answering)[EXCHANGE] = this;
    this.res.on('drain', resumeExchange).on('close', closeExchange);
    this.send();
  }

  private send(): void {
    const { req } = this;
    // A GET or HEAD without a declared body has none; anything else streams through.
    const hasBody = !(
      (req.method === 'GET' || req.method === 'HEAD') &&
      req.headers['content-length'] === undefined &&
      req.headers['transfer-encoding'] === undefined
    );
    this.connection = this.pool.take();
    this.connection.send(req, this.outgoing, this, hasBody, this.options.timeoutMs);
  }

  head(statusCode: number, rawHeaders: string[]): boolean {
    const kept: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (lower === 'set-cookie' && this.setsGatewayCookie(rawHeaders[i + 1]!))) continue;
      kept.push(name, rawHeaders[i + 1]!);
    }
    if (this.setCookie) kept.push('Set-Cookie', this.setCookie);
    // Answered before the request's body arrived: the gateway will not read the rest and closes the
    // connection after the answer (http/unread-body.ts), which the client must hear before it sends again.
    if (bodyUnread(this.req)) kept.push('Connection', 'close');
    // Only a GET of the workbench page carries a tag (http/workspace-forwarding.ts).
    if (this.tag !== undefined) {
      const encoding = injectablePage(statusCode, rawHeaders);
      if (encoding) {
        this.held = { statusCode, headers: kept, encoding, chunks: [], bytes: 0 };
        return true;
      }
    }
    try {
      this.res.writeHead(statusCode, kept);
      return true;
    } catch {
      // Node refuses some heads its parser accepts (a header value it will not write): nothing went out yet.
      return false;
    }
  }

  private setsGatewayCookie(value: string): boolean {
    const eq = value.indexOf('=');
    return this.options.gatewayCookies.has((eq === -1 ? value : value.slice(0, eq)).trim());
  }

  data(chunk: Buffer): boolean {
    // A response that ended (or broke) takes no more: writing would raise an error nobody listens to.
    if (this.res.writableEnded) return true;
    const held = this.held;
    if (held) {
      held.chunks.push(chunk);
      held.bytes += chunk.length;
      if (held.bytes <= MAX_INJECTED_PAGE_BYTES) return true;
      // Too big to hold: it goes on as it came, streamed from here on.
      return this.release(held.headers, Buffer.concat(held.chunks), false);
    }
    return this.res.write(chunk);
  }

  end(): void {
    this.done = true;
    // The connection may carry the next exchange now: a late 'drain' here must not resume it.
    this.connection = undefined;
    const held = this.held;
    if (!held) return void this.res.end();
    const body = Buffer.concat(held.chunks);
    const page = withTag(body, held.encoding, this.tag!);
    if (!page) return void this.release(held.headers, body, true);
    const headers: string[] = [];
    for (let i = 0; i < held.headers.length; i += 2) {
      if (!CHANGED_BY_TAG.has(held.headers[i]!.toLowerCase())) headers.push(held.headers[i]!, held.headers[i + 1]!);
    }
    headers.push('Content-Length', String(page.length));
    this.release(headers, page, true);
  }

  /** The held answer goes out with `headers` and `body` (and its end, if `last`); false when the client's buffer is full. */
  private release(headers: string[], body: Buffer, last: boolean): boolean {
    const { statusCode } = this.held!;
    this.held = undefined;
    try {
      this.res.writeHead(statusCode, headers);
    } catch {
      this.res.destroy();
      return true;
    }
    if (last) {
      this.res.end(body);
      return true;
    }
    return this.res.write(body);
  }

  fail(kind: UpstreamFailure, stale: boolean): void {
    const { req, res, user, options } = this;
    // A workspace that closed an idle connection as we reused it: once more on a fresh one,
    // but never once anything of an answer went to the client.
    if (stale && !this.retried && !res.headersSent && !res.destroyed && (req.method === 'GET' || req.method === 'HEAD')) {
      this.retried = true;
      return this.send();
    }
    this.done = true;
    this.connection = undefined;
    // A page held back for its tag broke off: nothing of it went out, so the client gets the error instead.
    this.held = undefined;
    // The client left: nothing to tell anyone.
    if (res.destroyed && !res.writableFinished) return;
    options.onFailure(user, kind);
    if (res.headersSent) {
      // Part of the body is out: the client must see a broken response, not a short one.
      res.destroy();
      return;
    }
    try {
      options.sendError(req, res, failureError(kind));
    } catch {
      // Called from a socket's event: a throw here would end the process, so only this response ends.
      res.destroy();
    }
  }

  drained(): void {
    this.connection?.resume();
  }

  closed(): void {
    if (!this.done) this.connection?.abandon();
  }
}

function failureError(kind: UpstreamFailure): GatewayError {
  if (kind === 'timeout') return new UpstreamTimeoutError();
  if (kind === 'invalid') return new UpstreamError('The workspace sent an answer that is not valid HTTP; try again.');
  return new UpstreamError();
}

function resumeExchange(this: Answering): void {
  this[EXCHANGE].drained();
}

function closeExchange(this: Answering): void {
  this[EXCHANGE].closed();
}
