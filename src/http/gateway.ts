import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { mayOpenWorkspace } from '../auth/access.js';
import type { Authenticated, Authenticator } from '../auth/authenticator.js';
import type { Config } from '../config/load.js';
import { beforeDeadline } from '../deadline.js';
import { ForbiddenError, GatewayError, NotFoundError, UriTooLongError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { destroySelf } from '../proxy/socket-registry.js';
import type { ApiHandler } from '../api/workspace-api.js';
import type { WorkspaceManager } from '../workspaces/manager.js';
import { acceptsHtml, isPageLoad } from './client-kind.js';
import { hostRefusal } from './host.js';
import type { HotPath } from './hot-path.js';
import { originAllowed, refuseCrossSiteWrite, type OriginPolicy } from './origin.js';
import type { RequestContext } from './request-context.js';
import { requestId } from './request-id.js';
import { logWhenDone, pathOnly } from './request-log.js';
import { asGatewayError, redirect, rejectUpgrade, sendError, sendJson, sendPage, sendSignIn } from './respond.js';
import { route, WORKSPACE_PREFIX, type Route } from './route.js';
import { startingPage } from './starting-page.js';
import type { WorkspaceForwarding } from './workspace-forwarding.js';

export interface GatewayDeps {
  config: Config;
  authenticate: Authenticator;
  manager: WorkspaceManager;
  hotPath: HotPath;
  forwarding: WorkspaceForwarding;
  metrics: Metrics;
  logger: Logger;
  api: ApiHandler;
  policy: OriginPolicy;
  /** For /readyz: which runtime answered. */
  runtimeName: string;
}

/** A wake that is ready this fast goes straight to the editor, without a starting page flashing by. */
const PAGE_GRACE_MS = 400;

/**
 * The request path, in a fixed order: route → (hot path) → authenticate →
 * authorize → the workspace ready → forward. Errors from any step are
 * answered in one place.
 */
export class Gateway {
  private readonly policy: OriginPolicy;
  private readonly debug: boolean;

  constructor(private readonly deps: GatewayDeps) {
    this.policy = deps.policy;
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
    if (r.kind === 'workspace' && this.deps.hotPath.serve(req, res, r, ctx.id)) return;
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
        await this.deps.manager.prepare();
        return sendJson(res, 200, { status: 'ready', runtime: this.deps.runtimeName });
      case 'metrics': {
        const text = await this.deps.metrics.render();
        res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case 'api':
        return this.deps.api(req, res, r.path, ctx);
      case 'not-found':
        throw new NotFoundError();
      case 'add-slash':
        return redirect(res, 308, r.location);
      case 'me': {
        const auth = await this.authenticate(req, ctx);
        if (auth.setCookie) res.setHeader('set-cookie', auth.setCookie);
        return redirect(res, 302, `${WORKSPACE_PREFIX}${auth.identity.user}${r.rest || '/'}${r.query}`);
      }
      case 'workspace': {
        const auth = await this.authorize(req, ctx, r.user);
        // Pages the gateway answers itself carry the session cookie too.
        if (auth.setCookie) res.setHeader('set-cookie', auth.setCookie);
        const manager = this.deps.manager;
        let endpoint = manager.endpointOf(r.user);
        if (!endpoint && isPageLoad(req.headers)) {
          endpoint = await beforeDeadline(manager.wake(r.user), PAGE_GRACE_MS, () => undefined);
          // Not ready in a blink: the browser gets the starting page, which follows the spawn.
          if (!endpoint) return this.sendStartingPage(res, r.user);
        }
        endpoint ??= await manager.whenRunning(r.user);
        if (auth.setCookie) res.removeHeader('set-cookie');
        this.deps.forwarding.web(req, res, ctx.id, r, endpoint, auth.setCookie);
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
    if (r.kind === 'workspace') refuseCrossSiteWrite(req, this.policy);
    return r;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<void> {
    const r = this.route(req);
    if (r.kind !== 'workspace') throw new NotFoundError('WebSockets are only served inside a workspace.');
    if (!originAllowed(req, this.policy)) throw new ForbiddenError('This page may not open a connection to the workspace.', 'bad_origin');
    const auth = await this.authorize(req, ctx, r.user);
    const manager = this.deps.manager;
    // A WebSocket never wakes a stopped workspace: a forgotten tab would keep it alive for ever.
    const endpoint = manager.endpointOf(r.user) ?? (await manager.whenRunning(r.user));
    if (socket.destroyed) return;
    this.deps.forwarding.upgrade(req, socket, head, ctx.id, auth, r, endpoint);
  }

  private sendStartingPage(res: ServerResponse, user: string): void {
    const { html, headers } = startingPage(user, `/api/workspaces/${user}/progress`, this.deps.manager.get(user)?.progress);
    // Tells scripts and tests what this 200 is; the page itself needs no header.
    sendPage(res, 200, html, { ...headers, 'x-workspace-status': 'starting' });
  }

  private async authenticate(req: IncomingMessage, ctx: RequestContext): Promise<Authenticated> {
    const auth = await this.deps.authenticate.authenticate(req);
    ctx.identity = auth.identity;
    return auth;
  }

  private async authorize(req: IncomingMessage, ctx: RequestContext, user: string): Promise<Authenticated> {
    const auth = await this.authenticate(req, ctx);
    if (!mayOpenWorkspace(auth.identity, user, this.deps.config.admin_workspace_access)) throw new ForbiddenError();
    return auth;
  }

  private fail(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, error: GatewayError, cause: unknown): void {
    if (!(cause instanceof GatewayError)) this.deps.logger.error({ reqId: ctx.id, err: cause }, 'request failed');
    else if (error.detail) this.deps.logger.warn({ reqId: ctx.id, code: error.code, detail: error.detail }, 'request failed');
    this.deps.metrics.errorResponses.inc({ status: String(error.status) });
    if (error.status === 401 && acceptsHtml(req.headers) && !res.headersSent) {
      return sendSignIn(req, res, error, this.deps.config.login_url, this.policy, this.deps.logger);
    }
    sendError(req, res, error);
  }
}
