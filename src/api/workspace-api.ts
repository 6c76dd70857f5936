import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import { mayManage, type Authenticator } from '../auth/authenticator.js';
import { authCookie } from '../auth/credentials.js';
import type { Identity } from '../auth/identity.js';
import { isUserId } from '../auth/user-id.js';
import { BadRequestError, ForbiddenError, GatewayError, NotFoundError } from '../errors.js';
import type { ApiHandler, RequestContext } from '../http/gateway.js';
import { publicOrigin, requestProto, type OriginPolicy } from '../http/origin.js';
import { sendJson } from '../http/respond.js';
import { SELF_SEGMENT, WORKSPACE_PREFIX } from '../http/route.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { Workspace, WorkspaceManager } from '../workspaces/manager.js';
import { archiveWorkspace } from './archive.js';
import { refuseCrossSite } from './cross-site.js';
import type { RateLimiter } from './rate-limit.js';
import { streamProgress } from './progress-stream.js';

export interface WorkspaceApiOptions {
  manager: WorkspaceManager;
  runtime: Runtime;
  authenticate: Authenticator;
  policy: OriginPolicy;
  cookieName: string;
  archiveDir?: string;
  /** How long a progress stream stays open at most. */
  progressLimitMs: number;
  /** Per-user limit on calls that start or stop containers. */
  rateLimiter: RateLimiter;
  /** Largest body accepted, except by a restore. */
  maxBodyBytes: number;
  /** A restore's whole time, body and unpacking (the only long request). */
  restoreTimeoutMs: number;
  logger: Logger;
}

class MethodNotAllowedError extends GatewayError {
  constructor(allow: string[]) {
    super('method_not_allowed', 405, `Use ${allow.join(' or ')} here.`, { Allow: allow.join(', ') });
  }
}

/** How long a create call waits before answering `starting` (it catches quick failures). */
const CREATE_GRACE_MS = 300;

/**
 * The management API of SPEC §5. Every call authenticates; state-changing
 * ones also refuse cross-site requests; `<user>` may be `me`.
 */
export function createWorkspaceApi(options: WorkspaceApiOptions): ApiHandler {
  const { manager, runtime, policy } = options;

  const describe = (req: IncomingMessage, user: string, ws: Workspace | undefined) => ({
    user,
    state: ws?.state ?? 'absent',
    startedAt: ws?.state === 'running' ? (ws.startedAt?.toISOString() ?? null) : null,
    lastActivity: ws?.lastActivity ? new Date(ws.lastActivity).toISOString() : null,
    lastActivityKind: ws?.lastActivityKind ?? null,
    reason: ws?.reason ?? null,
    url: `${publicOrigin(req, policy)}${WORKSPACE_PREFIX}${user}/`,
  });

  /** The gateway's picture when it is sure, else the engine's. */
  const current = async (user: string) => {
    const ws = manager.get(user);
    return ws?.confirmed || ws?.pending ? ws : manager.refresh(user);
  };

  return async (req, res, route, ctx) => {
    const segments = route.path.split('/').filter(Boolean).slice(1);
    const method = req.method ?? 'GET';
    const only = (...allowed: string[]) => {
      if (!allowed.includes(method)) throw new MethodNotAllowedError(allowed);
    };
    const auth = await options.authenticate.authenticate(req);
    const identity = (ctx.identity = auth.identity);
    if (method !== 'GET' && method !== 'HEAD') refuseCrossSite(req, policy);
    const restoring = method === 'PUT' && segments[2] === 'backup';
    if (!restoring) refuseLargeBody(req, options.maxBodyBytes);

    // POST /api/users/workspace/create/ — the LMS's existing call.
    if (segments.join('/') === 'users/workspace/create') {
      only('POST');
      const user = identity.user;
      options.rateLimiter.take(user);
      const status = await startWithGrace(manager, user);
      const maxAgeSeconds = Math.max(0, Math.floor((identity.expiresAt - Date.now()) / 1000));
      res.setHeader('set-cookie', authCookie(options.cookieName, auth.token, { secure: requestProto(req, policy) === 'https', maxAgeSeconds }));
      return sendJson(res, 200, { url: `${publicOrigin(req, policy)}${WORKSPACE_PREFIX}${user}/`, status });
    }
    if (segments[0] !== 'workspaces') throw new NotFoundError('No such API call.');

    if (segments.length === 1) {
      only('GET');
      requireAdmin(identity);
      await manager.reconcile();
      const list = [...manager.all()].filter((ws) => ws.state !== 'absent' || ws.pending).map((ws) => describe(req, ws.user, ws));
      return sendJson(res, 200, { workspaces: list });
    }

    const user = targetUser(segments[1]!, identity);
    const action = segments[2];
    if (segments.length > 3) throw new NotFoundError('No such API call.');

    if (action === undefined) {
      if (segments[1] === SELF_SEGMENT && method === 'GET') return sendJson(res, 200, describe(req, user, await current(user)));
      only('DELETE');
      requireAdmin(identity);
      return remove(req, res, user, ctx);
    }
    if (!mayManage(identity, user)) throw new ForbiddenError('Only the workspace\'s owner or an admin may do this.');
    switch (action) {
      case 'start':
        only('POST');
        options.rateLimiter.take(identity.user);
        await manager.ensure(user, { wake: true });
        return sendJson(res, 200, describe(req, user, manager.get(user)));
      case 'stop':
        only('POST');
        options.rateLimiter.take(identity.user);
        await manager.stop(user, identity.user === user ? 'stopped by the user' : `stopped by admin ${identity.user}`);
        return sendJson(res, 200, describe(req, user, manager.get(user)));
      case 'progress':
        only('GET');
        return streamProgress(res, manager, user, options.progressLimitMs);
      case 'backup':
        only('GET', 'PUT');
        return method === 'GET' ? backup(res, user) : restore(req, res, user, identity);
      default:
        throw new NotFoundError('No such API call.');
    }
  };

  async function remove(req: IncomingMessage, res: ServerResponse, user: string, ctx: RequestContext) {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const volume = url.searchParams.get('volume') === 'true';
    let archive: string | undefined;
    if (volume && options.archiveDir) {
      try {
        archive = await archiveWorkspace(runtime, user, options.archiveDir);
      } catch (err) {
        // Nothing to archive is fine; a failed archive stops the deletion.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    await manager.remove(user, { volume });
    options.logger.info({ reqId: ctx.id, user, by: ctx.identity?.user, volume, archive }, 'workspace removed');
    return sendJson(res, 200, { user, state: 'absent', volumeDeleted: volume, archive: archive ?? null });
  }

  async function backup(res: ServerResponse, user: string) {
    const tar = await runtime.backup(user);
    res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-disposition': `attachment; filename="${user}-workspace.tar.gz"`,
      'cache-control': 'no-store',
    });
    // Streamed end to end: a large workspace never sits in the gateway's memory.
    await pipeline(tar, createGzip(), res).catch(() => res.destroy());
  }

  async function restore(req: IncomingMessage, res: ServerResponse, user: string, identity: Identity) {
    requireAdmin(identity);
    const gunzip = createGunzip();
    const unpacked = runtime.restore(user, gunzip);
    const received = bodyInto(req, gunzip);
    let late = false;
    const deadline = setTimeout(() => {
      late = true;
      // Not pipeline's way of giving up, which destroys the request and with it the connection the 408 must go out on.
      req.unpipe(gunzip);
      gunzip.destroy(new RestoreTimeoutError(options.restoreTimeoutMs));
    }, options.restoreTimeoutMs);
    try {
      await Promise.all([received, unpacked]);
    } catch (err) {
      gunzip.destroy();
      if (late) throw new RestoreTimeoutError(options.restoreTimeoutMs);
      if (err instanceof GatewayError) throw err;
      throw new BadRequestError('The body is not a readable tar.gz archive.', 'bad_archive');
    } finally {
      clearTimeout(deadline);
    }
    return sendJson(res, 200, { user, restored: true });
  }
}

class RestoreTimeoutError extends GatewayError {
  constructor(limitMs: number) {
    super('restore_timeout', 408, `The restore did not finish within ${Math.round(limitMs / 60_000) || 1} minutes (GATEWAY_RESTORE_TIMEOUT); nothing more was read. Try again, or raise the limit.`);
  }
}

/** Resolves once `sink` took the whole request body; rejects when either breaks. */
function bodyInto(req: IncomingMessage, sink: Writable): Promise<void> {
  return new Promise((ok, fail) => {
    // `on`, not `once`: a second 'error' without a listener would end the process.
    req.on('error', fail).once('close', () => {
      if (!req.complete) fail(new Error('the client went away'));
    });
    sink.on('error', fail).once('finish', () => ok());
    req.pipe(sink);
  });
}

class PayloadTooLargeError extends GatewayError {
  constructor(limit: number) {
    super('payload_too_large', 413, `This call takes a body of at most ${limit} bytes.`);
  }
}

/** API calls other than a restore carry no real body: a big one is refused before it is read. */
function refuseLargeBody(req: IncomingMessage, limit: number): void {
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > limit || (req.headers['transfer-encoding'] !== undefined && limit <= 0)) throw new PayloadTooLargeError(limit);
  if (req.headers['transfer-encoding'] !== undefined) {
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) req.destroy();
    });
  }
}

function targetUser(segment: string, identity: Identity): string {
  if (segment === SELF_SEGMENT) return identity.user;
  if (!isUserId(segment)) throw new BadRequestError('The user id in the address is not valid.', 'bad_user');
  return segment;
}

function requireAdmin(identity: Identity): void {
  if (!identity.admin) throw new ForbiddenError('Only admins may do this.', 'admin_only');
}

/** Starts (or wakes) the workspace; answers `running` if it is ready within a moment, else `starting`. */
async function startWithGrace(manager: WorkspaceManager, user: string): Promise<'running' | 'starting'> {
  if (manager.endpointOf(user)) return 'running';
  const ready = manager.ensure(user, { wake: true });
  ready.catch(() => {});
  const grace = new Promise<'starting'>((ok) => setTimeout(() => ok('starting'), CREATE_GRACE_MS).unref());
  return Promise.race([ready.then(() => 'running' as const), grace]);
}
