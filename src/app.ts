import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { RateLimiter } from './api/rate-limit.js';
import { createWorkspaceApi } from './api/workspace-api.js';
import { Authenticator } from './auth/authenticator.js';
import { createTokenVerifier, verifierOptionsFromConfig } from './auth/token-verifier.js';
import type { Config } from './config/load.js';
import { Gateway } from './http/gateway.js';
import { createGatewayServer, type ServerLimits } from './http/server.js';
import type { OriginPolicy } from './http/origin.js';
import { createProxyTrust } from './http/proxy-trust.js';
import { adoptPeerHeader } from './http/peer.js';
import { rejectUpgrade, sendError } from './http/respond.js';
import { createLogger } from './log.js';
import { createMetrics, type Metrics, type MetricsJson } from './metrics/metrics.js';
import { FrameScanner } from './proxy/frame-scanner.js';
import { SocketRegistry } from './proxy/socket-registry.js';
import { CappedWorkspaceProxy, WebSocketLimit } from './proxy/websocket-limit.js';
import type { WorkspaceProxy } from './proxy/workspace-proxy.js';
import type { Endpoint, Runtime } from './runtimes/runtime.js';
import { isStudentFrame } from './workspaces/activity.js';
import type { WorkspaceDirectory } from './workspaces/directory.js';
import { IdlePolicy } from './workspaces/idle-policy.js';
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
  /** Listens on config host/port; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** The one place the gateway is wired together. */
export function createApp(options: AppOptions): App {
  const { config, logger = createLogger(config.log_level), runtime, privateSocket } = options;
  const sockets = new SocketRegistry();
  const manager = new WorkspaceManager({
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
  const proxy = createWorkspaceProxy({ config, logger, metrics, directory: manager, sockets });
  const policy = originPolicy(config);
  const authenticate = createAuthenticator(config);
  const api = createWorkspaceApi({
    manager,
    runtime,
    authenticate,
    policy,
    cookieName: config.cookie_name,
    archiveDir: config.archive_dir,
    progressLimitMs: config.spawn_timeout + 10_000,
    rateLimiter: new RateLimiter(config.start_rate_limit),
    maxBodyBytes: config.max_api_body,
    restoreTimeoutMs: config.restore_timeout,
    logger,
  });
  const gateway = new Gateway({ config, authenticate, manager, proxy, runtime, metrics, logger, api, policy });

  const idlePolicy = new IdlePolicy({
    manager,
    idleTimeoutMs: config.idle_timeout,
    removeAfterMs: config.remove_after,
    logger,
    onIdleStop: () => metrics.idleStops.inc(),
    onRemove: () => metrics.removals.inc(),
  });

  manager.on('stopping', (user: string, reason: string) => sockets.closeUser(user, 1001, `workspace stopped (${reason})`));
  manager.on('down', (user: string, reason: string, endpoint?: Endpoint) => {
    sockets.closeUser(user, 1011, `workspace ${reason}`);
    if (endpoint) proxy.forget(endpoint);
  });

  const server = createGatewayServer({
    // On the leader's private socket every peer is a worker: each worker caps its own clients.
    limits: serverLimits(config, privateSocket ? 'private' : 'public'),
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
    async listen() {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        if (privateSocket) server.listen(privateSocket, () => ok());
        else server.listen(config.port, config.host, () => ok());
      });
      const address = (privateSocket ? { address: privateSocket, port: 0, family: 'unix' } : server.address()) as AddressInfo;
      logger.info({ host: address.address, port: address.port, runtime: runtime.name }, privateSocket ? 'gateway leader listening for its workers' : 'gateway listening');
      // What already runs is served at once; an engine that is away now is caught up with later.
      manager.reconcile().then(
        (found) => logger.info({ workspaces: found.length }, 'workspaces found in the engine'),
        (err: Error) => logger.warn({ err: err.message }, 'could not list workspaces at start'),
      );
      idlePolicy.start();
      void manager.watch(lifetime.signal).catch((err: Error) => logger.error({ err: err.message }, 'engine event stream ended'));
      return address;
    },
    async close() {
      lifetime.abort();
      idlePolicy.stop();
      sockets.destroyAll();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await proxy.close();
      await runtime.close();
    },
  };
}

/**
 * The HTTP server's limits. `private`: a cluster leader's socket, reached
 * only by its workers, which cap their clients' connections themselves.
 */
export function serverLimits(config: Config, side: 'public' | 'private'): ServerLimits {
  return {
    headersTimeoutMs: config.headers_timeout,
    bodyTimeoutMs: config.body_timeout,
    maxConnectionsPerClient: side === 'private' ? 0 : config.max_connections_per_client,
    // Behind an edge proxy every connection comes from it: it limits per client itself (nginx limit_conn).
    uncappedPeer: createProxyTrust(config.trusted_proxies),
  };
}

export function originPolicy(config: Config): OriginPolicy {
  return { publicUrl: config.public_url, allowedOrigins: config.allowed_origins, trustsPeer: createProxyTrust(config.trusted_proxies) };
}

export function createAuthenticator(config: Config): Authenticator {
  return new Authenticator(createTokenVerifier(verifierOptionsFromConfig(config)), config.cookie_name);
}

/**
 * The proxy to workspaces with what the gateway does around it: upstream
 * failures are logged, counted and make the directory doubt the endpoint;
 * a user's WebSockets are capped (GATEWAY_MAX_WEBSOCKETS_PER_USER, in this
 * process); each WebSocket is registered (so a stopping workspace's tabs
 * are closed) and its client frames are read for the idle rule.
 */
export function createWorkspaceProxy({ config, logger, metrics, directory, sockets }: { config: Config; logger: Logger; metrics: Metrics; directory: WorkspaceDirectory; sockets: SocketRegistry }): WorkspaceProxy {
  const perUser = new WebSocketLimit(config.max_websockets_per_user);
  const refused = (user: string) => logger.info({ user, max: perUser.max, code: 'too_many_websockets' }, 'upgrade refused');
  return new CappedWorkspaceProxy({
    timeoutMs: config.proxy_timeout,
    sendError,
    rejectUpgrade,
    onUpstreamFailure: (user, kind) => {
      logger.warn({ user, upstream: kind }, 'workspace upstream failed');
      metrics.upstreamErrors.inc({ kind });
      if (kind === 'refused') directory.unreachable(user);
    },
    onWebSocket: (user, client) => {
      sockets.add(user, client);
      const scanner = new FrameScanner((opcode, length, firstByte) => {
        if (isStudentFrame(opcode, length, firstByte)) directory.touch(user, 'websocket');
      });
      client.on('data', (chunk: Buffer) => scanner.push(chunk));
    },
  }, perUser, refused);
}
