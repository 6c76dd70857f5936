import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Identity } from '../auth/identity.js';
import type { Config } from '../config/load.js';
import { ForbiddenError, GatewayError, NotFoundError, UriTooLongError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { destroySelf } from '../proxy/socket-registry.js';
import type { WorkspaceProxy } from '../proxy/workspace-proxy.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { WorkspaceManager } from '../workspaces/manager.js';
import { acceptsHtml, isPageLoad } from './client-kind.js';
import { errorPage, PAGE_HEADERS } from './pages.js';
import { hostRefusal } from './host.js';
import { isCrossSiteWrite, originAllowed, publicOrigin, type OriginPolicy } from './origin.js';
import { asGatewayError, redirect, rejectUpgrade, sendError, sendJson } from './respond.js';
import { route, WORKSPACE_PREFIX, type Route } from './route.js';
import { logWhenDone, pathOnly } from './request-log.js';
import { requestId } from './request-id.js';
import { startingPage } from './starting-page.js';
import { WorkspaceForwarding } from './workspace-forwarding.js';

export interface RequestContext {
  id: string;
  identity?: Identity;
}

export type ApiHandler = (req: IncomingMessage, res: ServerResponse, route: Extract<Route, { kind: 'api' }>, ctx: RequestContext) => Promise<void>;

export interface GatewayDeps {
  config: Config;
  authenticate: Authenticator;
  manager: WorkspaceManager;
  proxy: WorkspaceProxy;
  runtime: Runtime;
  metrics: Metrics;
  logger: Logger;
  api?: ApiHandler;
  policy: OriginPolicy;
}

const crossSite = () => new ForbiddenError('Another site may not send this to your workspace; open the workspace itself and try again there.', 'cross_site');

/** A wake that is ready this fast goes straight to the editor, without a starting page flashing by. */
const PAGE_GRACE_MS = 400;

/** The endpoint if the spawn is ready within `ms`; its failures within `ms` are thrown. */
async function readyWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((ok) => {
    timer = setTimeout(() => ok(undefined), ms);
  });
  promise.catch(() => {});
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The request path, in a fixed order: route → authenticate → authorize →
 * ensure the workspace is ready → proxy. Errors from any step are answered
 * in one place.
 */
export class Gateway {
  private readonly policy: OriginPolicy;
  private readonly forwarding: WorkspaceForwarding;
  private readonly debug: boolean;

  constructor(private readonly deps: GatewayDeps) {
    this.policy = deps.policy;
    this.forwarding = new WorkspaceForwarding({ ...deps, directory: deps.manager });
    this.debug = deps.logger.isLevelEnabled('debug');
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx: RequestContext = { id: requestId(req) };
    let r: Route;
    try {
      r = this.route(req);
    } catch (err) {
      this.logWhenDone(req, res, ctx);
      return this.fail(req, res, ctx, asGatewayError(err), err);
    }
    // The hot path, without a single await: a known token of the owner, a running workspace.
    // Nothing is logged here unless at debug level; upstream failures are logged where they happen.
    if (r.kind === 'workspace') {
      const identity = this.deps.authenticate.known(req);
      const endpoint = identity && this.forwarding.allowed(identity, r.user) ? this.deps.manager.endpointOf(r.user) : undefined;
      if (endpoint) {
        ctx.identity = identity;
        if (this.debug) this.logWhenDone(req, res, ctx);
        return this.forwarding.web(req, res, ctx.id, r, endpoint);
      }
    }
    this.logWhenDone(req, res, ctx);
    this.serve(req, res, ctx, r).catch((err: unknown) => this.fail(req, res, ctx, asGatewayError(err), err));
  };

  /** Gateway-made answers (and, at debug level, every request) are logged once the response is done. */
  private logWhenDone(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    logWhenDone(this.deps.logger, req, res, () => ({ reqId: ctx.id, user: ctx.identity?.user }), this.debug);
  }

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx: RequestContext = { id: requestId(req) };
    // Not a closure: one here would share this call's scope with the one below and keep `req` (and its headers) for the WebSocket's lifetime.
    socket.on('error', destroySelf);
    this.upgrade(req, socket, head, ctx).catch((err: unknown) => {
      const error = asGatewayError(err);
      if (!(err instanceof GatewayError)) this.deps.logger.error({ reqId: ctx.id, err }, 'upgrade failed');
      else if (error.detail) this.deps.logger.warn({ reqId: ctx.id, code: error.code, detail: error.detail }, 'upgrade failed');
      this.deps.logger.info({ reqId: ctx.id, user: ctx.identity?.user, path: pathOnly(req.url), status: error.status, code: error.code }, 'upgrade refused');
      rejectUpgrade(socket, error);
    });
  };

  private async serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, r: Route): Promise<void> {
    switch (r.kind) {
      case 'health':
        return sendJson(res, 200, { status: 'ok' });
      case 'ready':
        await this.deps.runtime.ping();
        return sendJson(res, 200, { status: 'ready', runtime: this.deps.runtime.name });
      case 'metrics': {
        const text = await this.deps.metrics.render();
        res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case 'api':
        if (!this.deps.api) throw new NotFoundError('No such API call.');
        return this.deps.api(req, res, r, ctx);
      case 'not-found':
        throw new NotFoundError();
      case 'add-slash':
        return redirect(res, 308, r.location);
      case 'me': {
        const identity = await this.authenticate(req, ctx);
        return redirect(res, 302, `${WORKSPACE_PREFIX}${identity.user}${r.rest || '/'}${r.query}`);
      }
      case 'workspace': {
        await this.authorize(req, ctx, r.user);
        const manager = this.deps.manager;
        let endpoint = manager.endpointOf(r.user);
        if (!endpoint && isPageLoad(req.headers)) {
          endpoint = await readyWithin(manager.ensure(r.user, { wake: true }), PAGE_GRACE_MS);
          // Not ready in a blink: the browser gets the starting page, which follows the spawn.
          if (!endpoint) return this.sendStartingPage(res, r.user);
        }
        endpoint ??= await manager.ensure(r.user, { wake: false });
        this.forwarding.web(req, res, ctx.id, r, endpoint);
        return;
      }
    }
  }

  /** The first step for requests and upgrades alike: what the request is, and whether it may be looked at further. */
  private route(req: IncomingMessage): Route {
    if ((req.url?.length ?? 0) > this.deps.config.max_url_length) throw new UriTooLongError();
    const badHost = hostRefusal(req, this.policy);
    if (badHost) throw badHost;
    const r = route(req.url);
    if (r.kind === 'workspace' && isCrossSiteWrite(req, this.policy)) throw crossSite();
    return r;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<void> {
    const r = this.route(req);
    if (r.kind !== 'workspace') throw new NotFoundError('WebSockets are only served inside a workspace.');
    if (!originAllowed(req, this.policy)) throw new ForbiddenError('This page may not open a connection to the workspace.', 'bad_origin');
    const identity = await this.authorize(req, ctx, r.user);
    const manager = this.deps.manager;
    // A WebSocket never wakes a stopped workspace: a forgotten tab would keep it alive for ever.
    const endpoint = manager.endpointOf(r.user) ?? (await manager.ensure(r.user, { wake: false }));
    if (socket.destroyed) return;
    this.forwarding.upgrade(req, socket, head, ctx.id, identity, r, endpoint);
  }

  private sendStartingPage(res: ServerResponse, user: string): void {
    const { html, headers } = startingPage(user, `/api/workspaces/${user}/progress`, this.deps.manager.get(user)?.progress);
    // Tells scripts and tests what this 200 is; the page itself needs no header.
    res.writeHead(200, { ...headers, 'x-workspace-status': 'starting', 'content-length': Buffer.byteLength(html) });
    res.end(html);
  }

  private async authenticate(req: IncomingMessage, ctx: RequestContext): Promise<Identity> {
    ctx.identity = (await this.deps.authenticate.authenticate(req)).identity;
    return ctx.identity;
  }

  private async authorize(req: IncomingMessage, ctx: RequestContext, user: string): Promise<Identity> {
    const identity = await this.authenticate(req, ctx);
    if (!this.forwarding.allowed(identity, user)) throw new ForbiddenError();
    return identity;
  }

  private fail(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, error: GatewayError, cause: unknown): void {
    if (!(cause instanceof GatewayError)) this.deps.logger.error({ reqId: ctx.id, err: cause }, 'request failed');
    else if (error.detail) this.deps.logger.warn({ reqId: ctx.id, code: error.code, detail: error.detail }, 'request failed');
    this.deps.metrics.responses.inc({ status: String(error.status) });
    if (error.status === 401 && acceptsHtml(req.headers) && !res.headersSent) return this.toLogin(req, res, error);
    sendError(req, res, error);
  }

  /** A browser without a valid token goes to the LMS login, or sees a small page. */
  private toLogin(req: IncomingMessage, res: ServerResponse, error: GatewayError): void {
    const location = this.loginLocation(req);
    if (location) return redirect(res, 302, location);
    const html = errorPage(401, 'Please sign in', `${error.message} Open your workspace from the learning platform.`, error.code);
    res.writeHead(401, { ...PAGE_HEADERS, 'content-length': Buffer.byteLength(html) });
    res.end(html);
  }

  /**
   * The LMS login with the way back. Never throws, though it runs in a
   * promise's catch, where a throw would end the process: the host was
   * checked in route(), and should a URL still not parse, the browser gets
   * the sign-in page instead.
   */
  private loginLocation(req: IncomingMessage): string | undefined {
    const login = this.deps.config.login_url;
    if (!login) return undefined;
    try {
      const origin = publicOrigin(req, this.policy);
      const url = new URL(login, origin);
      url.searchParams.set('next', origin + (req.url ?? '/'));
      return url.toString();
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not build the login redirect');
      return undefined;
    }
  }
}
