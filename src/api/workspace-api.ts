import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import { mayManage, requireAdmin } from '../auth/access.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { LaunchLinks } from '../auth/launch-links.js';
import type { Session } from '../auth/sessions.js';
import type { Identity } from '../auth/identity.js';
import { isUserId, SELF_SEGMENT } from '../auth/user-id.js';
import { beforeDeadline } from '../deadline.js';
import { BadRequestError, ForbiddenError, GatewayError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, RestoreTimeoutError } from '../errors.js';
import { publicOrigin, refuseCrossSiteWrite, type OriginPolicy } from '../http/origin.js';
import type { RequestContext } from '../http/request-context.js';
import { errorPage } from '../http/pages.js';
import { redirect, sendJson, sendPage } from '../http/respond.js';
import { LAUNCH_PREFIX, WORKSPACE_PREFIX } from '../http/route.js';
import type { WorkspaceManager } from '../workspaces/manager.js';
import type { Workspace } from '../workspaces/workspace.js';
import type { ApiEndpoint, Call, Caller } from './endpoint.js';
import { streamProgress } from './progress-stream.js';
import type { RateLimiter } from './rate-limit.js';
import { archiveBeforeDeletion } from './volume-archive.js';

export interface WorkspaceApiOptions {
  manager: WorkspaceManager;
  authenticate: Authenticator;
  policy: OriginPolicy;
  launchLinks: LaunchLinks;
  /** LMS frontends that may make the create call and `GET /api/workspaces/me` from the browser (CORS). */
  lmsOrigins: string[];
  /** Where a dead launch link sends the student back to (GATEWAY_LOGIN_URL). */
  loginUrl?: string;
  /** A session was logged out: its WebSockets are closed (in every process). */
  onLogout: (session: Session) => void;
  archiveDir?: string;
  /** How long a progress stream stays open at most. */
  progressLimitMs: number;
  /** Per-user limit on calls that start or stop containers. */
  rateLimiter: RateLimiter;
  /** Largest body accepted, except by a restore. */
  maxBodyBytes: number;
  /** A restore's whole time, body and unpacking (the only long request). */
  restoreTimeoutMs: number;
  /** More calls in the same table (the pre-warm jobs, the idle notice's), authenticated and checked the same way. */
  endpoints?: ApiEndpoint[];
  logger: Logger;
}

/** Answers an `/api/…` request; the gateway turns what it throws into the JSON error. */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse, path: string, ctx: RequestContext) => Promise<void>;

/** How long a create call waits before answering `starting` (it catches quick failures). */
const CREATE_GRACE_MS = 300;

/**
 * The management API of SPEC §5, as one table: method, path, who may call,
 * handler. Every call authenticates; state-changing ones also refuse
 * cross-site requests; `<user>` may be `me`. What changes workspaces goes
 * through the manager.
 */
export function createWorkspaceApi(options: WorkspaceApiOptions): ApiHandler {
  const { manager, policy } = options;

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

  const restoreCall = ({ req, res, user }: Call) => restore(req, res, user);

  const endpoints: ApiEndpoint[] = [
    {
      // The LMS's existing call: starts the caller's workspace and hands the token over as the cookie.
      // The LMS's existing call: starts the caller's workspace and answers a launch link that opens in a browser without a gateway cookie.
      method: 'POST',
      pattern: ['users', 'workspace', 'create'],
      who: 'user',
      cors: true,
      async handle({ req, res, auth, user }) {
        options.rateLimiter.take(user);
        const status = await startWithGrace(manager, user);
        const origin = publicOrigin(req, policy);
        // A same-site frontend's fetch keeps the session cookie; the launch link serves every other browser.
        if (auth.setCookie) res.setHeader('set-cookie', auth.setCookie);
        const code = options.launchLinks.issue(auth.identity);
        sendJson(res, 200, { url: `${origin}${LAUNCH_PREFIX}${code}`, workspace_url: `${origin}${WORKSPACE_PREFIX}${user}/`, status });
      },
    },
    {
      method: 'POST',
      pattern: ['logout'],
      who: 'user',
      handle({ req, res, auth, ctx }) {
        res.setHeader('set-cookie', options.authenticate.logout(req, auth.session));
        options.onLogout(auth.session);
        options.logger.info({ reqId: ctx.id, user: auth.identity.user }, 'signed out');
        sendJson(res, 200, { signedOut: true });
      },
    },
    {
      method: 'GET',
      pattern: ['workspaces'],
      who: 'admin',
      async handle({ req, res }) {
        await manager.reconcile();
        const list = [...manager.all()].filter((ws) => ws.state !== 'absent' || ws.pending).map((ws) => describe(req, ws.user, ws));
        sendJson(res, 200, { workspaces: list });
      },
    },
    {
      method: 'GET',
      pattern: ['workspaces', SELF_SEGMENT],
      who: 'user',
      cors: true,
      async handle({ req, res, user }) {
        sendJson(res, 200, describe(req, user, await current(user)));
      },
    },
    {
      method: 'DELETE',
      pattern: ['workspaces', ':user'],
      who: 'admin',
      async handle({ req, res, user, ctx }) {
        const volume = new URL(req.url ?? '/', 'http://gateway').searchParams.get('volume') === 'true';
        const archive = volume && options.archiveDir ? await archiveBeforeDeletion(manager, user, options.archiveDir) : undefined;
        await manager.remove(user, { volume });
        options.logger.info({ reqId: ctx.id, user, by: ctx.identity?.user, volume, archive }, 'workspace removed');
        sendJson(res, 200, { user, state: 'absent', volumeDeleted: volume, archive: archive ?? null });
      },
    },
    {
      method: 'POST',
      pattern: ['workspaces', ':user', 'start'],
      who: 'owner',
      async handle({ req, res, auth, user }) {
        options.rateLimiter.take(auth.identity.user);
        await manager.wake(user);
        sendJson(res, 200, describe(req, user, manager.get(user)));
      },
    },
    {
      method: 'POST',
      pattern: ['workspaces', ':user', 'stop'],
      who: 'owner',
      async handle({ req, res, auth, user }) {
        const by = auth.identity.user;
        options.rateLimiter.take(by);
        await manager.stop(user, by === user ? 'stopped by the user' : `stopped by admin ${by}`);
        sendJson(res, 200, describe(req, user, manager.get(user)));
      },
    },
    {
      method: 'POST',
      pattern: ['workspaces', ':user', 'move'],
      who: 'admin',
      async handle({ req, res, user, ctx }) {
        const host = new URL(req.url ?? '/', 'http://gateway').searchParams.get('node');
        if (!host) throw new BadRequestError('say where to: ?node=<node id or hostname>');
        await manager.move(user, host);
        options.logger.info({ reqId: ctx.id, user, by: ctx.identity?.user, node: host }, 'workspace moved');
        sendJson(res, 200, { ...describe(req, user, manager.get(user)), node: host });
      },
    },
    {
      method: 'GET',
      pattern: ['workspaces', ':user', 'progress'],
      who: 'owner',
      handle: ({ res, user }) => streamProgress(res, manager, user, options.progressLimitMs),
    },
    {
      method: 'GET',
      pattern: ['workspaces', ':user', 'backup'],
      who: 'owner',
      async handle({ res, user }) {
        const tar = await manager.backup(user);
        res.writeHead(200, {
          'content-type': 'application/gzip',
          'content-disposition': `attachment; filename="${user}-workspace.tar.gz"`,
          'cache-control': 'no-store',
        });
        // Streamed end to end: a large workspace never sits in the gateway's memory.
        await pipeline(tar, createGzip(), res).catch(() => res.destroy());
      },
    },
    {
      method: 'PUT',
      pattern: ['workspaces', ':user', 'backup'],
      who: 'admin',
      handle: restoreCall,
    },
    ...(options.endpoints ?? []),
  ];

  /** A launch link: its own credential, so it is used before (and instead of) a sign-in. */
  const launch = (req: IncomingMessage, res: ServerResponse, code: string) => {
    const identity = options.launchLinks.redeem(code);
    if (!identity) {
      const message = 'This launch link was used already, has expired or is not one of ours. Start your workspace again from the LMS.';
      return sendPage(res, 400, errorPage(400, 'This link cannot open a workspace', message, 'launch_invalid', options.loginUrl, 'Back to the LMS'));
    }
    const auth = options.authenticate.launched(req, identity);
    res.setHeader('set-cookie', auth.setCookie!);
    options.logger.info({ user: identity.user }, 'launched');
    redirect(res, 303, `${WORKSPACE_PREFIX}${identity.user}/`);
  };

  return async (req, res, path, ctx) => {
    const segments = path.split('/').filter(Boolean).slice(1);
    const method = req.method ?? 'GET';
    if (segments.length === 2 && segments[0] === 'launch' && (method === 'GET' || method === 'HEAD')) return launch(req, res, segments[1]!);
    const matches = endpoints.filter((e) => matchesPattern(e.pattern, segments));
    const origin = req.headers.origin;
    const fromLms = origin !== undefined && options.lmsOrigins.includes(origin) && matches.some((e) => e.cors);
    if (fromLms) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (method === 'OPTIONS') return preflight(res, matches);
    }
    const auth = await options.authenticate.authenticate(req);
    const identity = (ctx.identity = auth.identity);
    // An LMS call from its listed origin brings its Bearer token: there is no ambient credential to abuse.
    if (!fromLms) refuseCrossSiteWrite(req, policy);
    if (matches.length === 0) throw new NotFoundError('No such API call.');
    const endpoint = matches.find((e) => e.method === method);
    if (!endpoint) throw new MethodNotAllowedError(matches.map((e) => e.method));
    // Only a restore carries a real body.
    if (endpoint.handle !== restoreCall) refuseLargeBody(req, options.maxBodyBytes);
    const user = endpoint.pattern.includes(':user') ? targetUser(segments[1]!, identity) : identity.user;
    authorize(endpoint.who, identity, user);
    await endpoint.handle({ req, res, auth, user, ctx, segments });
  };

  async function restore(req: IncomingMessage, res: ServerResponse, user: string) {
    const gunzip = createGunzip();
    const unpacked = manager.restore(user, gunzip);
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
    sendJson(res, 200, { user, restored: true });
  }
}

function matchesPattern(pattern: string[], segments: string[]): boolean {
  return pattern.length === segments.length && pattern.every((p, i) => p.startsWith(':') || p === segments[i]);
}

/** A CORS preflight from a listed LMS origin: the methods of the call, the `Authorization` header, no credentials. */
function preflight(res: ServerResponse, matches: ApiEndpoint[]): void {
  res.writeHead(204, {
    'access-control-allow-methods': matches.map((e) => e.method).join(', '),
    'access-control-allow-headers': 'Authorization, Content-Type',
    'access-control-max-age': '600',
  });
  res.end();
}

function authorize(who: Caller, identity: Identity, user: string): void {
  if (who === 'admin') requireAdmin(identity);
  else if (who === 'owner' && !mayManage(identity, user)) throw new ForbiddenError("Only the workspace's owner or an admin may do this.");
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

/** Starts (or wakes) the workspace; answers `running` if it is ready within a moment, else `starting`. */
async function startWithGrace(manager: WorkspaceManager, user: string): Promise<'running' | 'starting'> {
  if (manager.endpointOf(user)) return 'running';
  return beforeDeadline(
    manager.wake(user).then(() => 'running' as const),
    CREATE_GRACE_MS,
    () => 'starting' as const,
  );
}
