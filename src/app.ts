import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { prewarmEndpoints } from './api/prewarm-api.js';
import { IdleNotices, noticeEndpoints } from './api/idle-notices.js';
import { RateLimiter } from './api/rate-limit.js';
import { createWorkspaceApi } from './api/workspace-api.js';
import { authenticatorOf, cookieNamesOf } from './auth/authenticator.js';
import { LaunchLinks } from './auth/launch-links.js';
import type { Session } from './auth/sessions.js';
import { runLeader } from './cluster/leader.js';
import { adoptPeerHeader } from './cluster/peer-header.js';
import { LEADER_SOCKET_ENV, runWorker } from './cluster/worker.js';
import type { Config } from './config/load.js';
import { Gateway } from './http/gateway.js';
import { HotPath } from './http/hot-path.js';
import { originPolicyOf, requestProto } from './http/origin.js';
import { createGatewayServer, serverLimitsOf } from './http/server.js';
import { WorkspaceForwarding } from './http/workspace-forwarding.js';
import { GatewayError } from './errors.js';
import { createLogger } from './log.js';
import { createMetrics, type Metrics, type MetricsJson } from './metrics/metrics.js';
import { FileJobStore } from './prewarm/job-store.js';
import { Prewarmer } from './prewarm/prewarmer.js';
import { SocketRegistry } from './proxy/socket-registry.js';
import type { Runtime } from './runtimes/runtime.js';
import { WorkspaceHolds } from './workspaces/holds.js';
import { IdlePolicy } from './workspaces/idle-policy.js';
import { Listeners } from './workspaces/listeners.js';
import { WorkspaceManager } from './workspaces/manager.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** From `createRuntime(config, logger)`, or a test's own. */
  runtime: Runtime;
  /**
   * A cluster's leader listens here instead of on the public port: only its
   * workers connect, and their word on each client's address is taken.
   */
  privateSocket?: string;
  /** A cluster's leader: its workers' metrics, added into /metrics. */
  workerMetrics?: () => Promise<MetricsJson[]>;
}

export interface App {
  config: Config;
  server: Server;
  runtime: Runtime;
  manager: WorkspaceManager;
  metrics: Metrics;
  logger: Logger;
  sockets: SocketRegistry;
  idlePolicy: IdlePolicy;
  prewarmer: Prewarmer;
  /** A session was logged out here (a cluster's leader tells its workers). */
  onLogout(listener: (session: Session) => void): () => void;
  /** Listens on config host/port; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** The one place the gateway is wired together (a cluster worker wires its smaller part in cluster/worker.ts). */
export function createApp(options: AppOptions): App {
  const { config, logger = createLogger(config.log_level), runtime, privateSocket } = options;
  const sockets = new SocketRegistry();
  const holds = new WorkspaceHolds();
  const manager = new WorkspaceManager({
    holds,
    runtime,
    spawnTimeoutMs: config.spawn_timeout,
    maxRunning: config.max_running,
    maxConcurrentSpawns: config.max_concurrent_spawns,
    evictIdleAfterMs: config.evict_idle_after,
    logger,
    onSpawn: (outcome, seconds) => {
      metrics.spawns.inc({ outcome });
      if (outcome === 'ok') metrics.spawnSeconds.observe(seconds);
    },
  });
  const metrics = createMetrics({
    workspaceStates: () => {
      const counts: Record<string, number> = { running: 0, stopped: 0, error: 0, creating: 0 };
      for (const ws of manager.all()) if (ws.state !== 'absent') counts[ws.state] = (counts[ws.state] ?? 0) + 1;
      return counts;
    },
    openWebSockets: () => sockets.size,
    others: options.workerMetrics,
  });
  const policy = originPolicyOf(config);
  const authenticate = authenticatorOf(config, (req) => requestProto(req, policy) === 'https');
  const forwarding = new WorkspaceForwarding({
    config,
    policy,
    metrics,
    directory: manager,
    sockets,
    sessions: authenticate.sessions,
    cookieNames: cookieNamesOf(config),
    logger,
  });
  const prewarmer = new Prewarmer({
    manager,
    holds,
    store: new FileJobStore(config.state_dir),
    limits: { maxUsers: config.prewarm_max_users, maxHoldMs: config.prewarm_max_hold },
    maxConcurrentSpawns: config.max_concurrent_spawns,
    maxRunning: config.max_running,
    evictIdleAfterMs: config.evict_idle_after,
    logger,
  });
  const loggedOut = new Listeners<[Session]>();
  const hotPath = new HotPath({ authenticate, directory: manager, forwarding, adminWorkspaceAccess: config.admin_workspace_access, logger });
  const idlePolicy = new IdlePolicy({
    manager,
    idleTimeoutMs: config.idle_timeout,
    removeAfterMs: config.remove_after,
    holds,
    logger,
    onIdleStop: () => metrics.idleStops.inc(),
    onRemove: () => metrics.removals.inc(),
  });
  const idleNotices =
    config.idle_warning > 0
      ? new IdleNotices({ manager, stopsAt: (user) => idlePolicy.stopsAt(user), warningMs: config.idle_warning, idleTimeoutMs: config.idle_timeout, logger })
      : undefined;
  const api = createWorkspaceApi({
    manager,
    authenticate,
    policy,
    launchLinks: new LaunchLinks(),
    lmsOrigins: config.lms_origins,
    loginUrl: config.login_url,
    onLogout: (session) => {
      forwarding.endSession(session.id);
      loggedOut.tell(session);
    },
    archiveDir: config.archive_dir,
    progressLimitMs: config.spawn_timeout + 10_000,
    rateLimiter: new RateLimiter(config.start_rate_limit),
    maxBodyBytes: config.max_api_body,
    restoreTimeoutMs: config.restore_timeout,
    endpoints: [...prewarmEndpoints(prewarmer, config.max_api_body), ...(idleNotices ? noticeEndpoints(idleNotices, manager, logger) : [])],
    logger,
  });
  const gateway = new Gateway({ config, authenticate, manager, hotPath, forwarding, metrics, logger, api, policy, runtimeName: runtime.name });

  manager.onStopping((user, reason) => sockets.closeUser(user, 1001, `workspace stopped (${reason})`));
  manager.onDown((user, reason, endpoint) => {
    sockets.closeUser(user, 1011, `workspace ${reason}`);
    if (endpoint) forwarding.forget(endpoint);
  });

  const server = createGatewayServer({
    // On the leader's private socket every peer is a worker: each worker caps its own clients.
    limits: serverLimitsOf(config, privateSocket ? 'private' : 'public'),
    onRequest: privateSocket
      ? (req, res) => {
          adoptPeerHeader(req);
          gateway.handleRequest(req, res);
        }
      : gateway.handleRequest,
    onUpgrade: privateSocket
      ? (req, socket, head) => {
          adoptPeerHeader(req);
          gateway.handleUpgrade(req, socket, head);
        }
      : gateway.handleUpgrade,
    logger,
  });

  const lifetime = new AbortController();
  return {
    config,
    server,
    runtime,
    manager,
    metrics,
    logger,
    sockets,
    idlePolicy,
    prewarmer,
    onLogout: (listener) => loggedOut.add(listener),
    async listen() {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        if (privateSocket) server.listen(privateSocket, () => ok());
        else server.listen(config.port, config.host, () => ok());
      });
      const address = (privateSocket ? { address: privateSocket, port: 0, family: 'unix' } : server.address()) as AddressInfo;
      logger.info(
        { host: address.address, port: address.port, runtime: runtime.name },
        privateSocket ? 'gateway leader listening for its workers' : 'gateway listening',
      );
      // An unsafe network or an absent engine is found now, not at the first spawn; spawns and /readyz ask again.
      manager
        .prepare()
        .catch((err: Error) => logger.warn({ err: err.message, detail: err instanceof GatewayError ? err.detail : undefined }, 'the runtime is not ready yet'));
      // What already runs is served at once; an engine that is away now is caught up with later.
      manager.reconcile().then(
        (found) => logger.info({ workspaces: found.length }, 'workspaces found in the engine'),
        (err: Error) => logger.warn({ err: err.message }, 'could not list workspaces at start'),
      );
      idlePolicy.start();
      await prewarmer.resume();
      void manager.watch(lifetime.signal).catch((err: Error) => logger.error({ err: err.message }, 'engine event stream ended'));
      return address;
    },
    async close() {
      lifetime.abort();
      idlePolicy.stop();
      idleNotices?.close();
      prewarmer.close();
      sockets.destroyAll();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await forwarding.close();
      await runtime.close();
    },
  };
}

/** A running gateway in whichever shape the configuration asks for. */
export interface Serving {
  /** The public port (the chosen one when configured as 0); undefined in a cluster worker. */
  port?: number;
  /** The gateway that talks to the engine; undefined in a cluster worker. */
  app?: App;
  close(): Promise<void>;
}

/**
 * Runs the gateway: one process doing everything (`GATEWAY_WORKERS=1`), or
 * a cluster's leader (which forks the workers) or one of its workers. What
 * `main`, the demo and the bench call. The runtime is made only where it is
 * used (a worker never talks to the engine, and dockerode alone costs 14 MiB).
 */
export async function serve(config: Config, logger: Logger, makeRuntime: () => Promise<Runtime>): Promise<Serving> {
  if (config.workers > 1 && cluster.isWorker) {
    await runWorker(config, process.env[LEADER_SOCKET_ENV] ?? '', logger);
    return { close: async () => {} };
  }
  const runtime = await makeRuntime();
  if (config.workers > 1) return runLeader(config, logger, runtime);
  const app = createApp({ config, logger, runtime });
  const { port } = await app.listen();
  return { port, app, close: () => app.close() };
}
