import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { authenticatorOf, cookieNamesOf } from '../auth/authenticator.js';
import type { Config } from '../config/load.js';
import { HotPath } from '../http/hot-path.js';
import { originPolicyOf, requestProto } from '../http/origin.js';
import { createGatewayServer, serverLimitsOf } from '../http/server.js';
import { WorkspaceForwarding } from '../http/workspace-forwarding.js';
import { createMetrics } from '../metrics/metrics.js';
import { SocketRegistry } from '../proxy/socket-registry.js';
import { LeaderLink } from './leader-link.js';
import type { ToLeader, ToWorker } from './messages.js';
import { WorkspaceReplica } from './replica.js';
import { WorkerGateway } from './worker-gateway.js';

/** Environment variable by which a worker learns where its leader listens. */
export const LEADER_SOCKET_ENV = 'WORKSPACE_GATEWAY_LEADER_SOCKET';

/**
 * One worker of a cluster: listens on the public port (the cluster module
 * shares it), proxies to running workspaces itself and passes the rest to
 * the leader at `leaderSocket`. Exits when the leader disconnects it.
 */
export async function runWorker(config: Config, leaderSocket: string, baseLogger: Logger): Promise<void> {
  const logger = baseLogger.child({ worker: cluster.worker?.id });
  const send = (message: ToLeader) => {
    if (process.connected) process.send?.(message);
  };
  const directory = new WorkspaceReplica(send);
  const sockets = new SocketRegistry();
  const metrics = createMetrics({ workspaceStates: () => ({}), openWebSockets: () => sockets.size });
  const policy = originPolicyOf(config);
  const authenticate = authenticatorOf(config, (req) => requestProto(req, policy) === 'https');
  const cookieNames = cookieNamesOf(config);
  const forwarding = new WorkspaceForwarding({ config, policy, metrics, directory, sockets, sessions: authenticate.sessions, cookieNames, logger });
  const hotPath = new HotPath({ authenticate, directory, forwarding, adminWorkspaceAccess: config.admin_workspace_access, logger });
  const leader = new LeaderLink(leaderSocket, config.spawn_timeout + config.proxy_timeout, (kind) =>
    logger.error({ upstream: kind }, 'the leader process did not answer'),
  );
  const gateway = new WorkerGateway({ maxUrlLength: config.max_url_length, authenticate, hotPath, forwarding, policy, leader, logger });
  // Each worker caps its own clients' connections and its own users' WebSockets: the cluster module spreads
  // a client's connections over the workers, so a client may hold up to that many times the cap in all.
  const server = createGatewayServer({ limits: serverLimitsOf(config, 'public'), onRequest: gateway.handleRequest, onUpgrade: gateway.handleUpgrade, logger });

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'endpoints':
        return directory.replaceAll(message.entries);
      case 'endpoint':
        return directory.set(message.user, message.endpoint);
      case 'close-sockets':
        return sockets.closeUser(message.user, message.code, message.reason);
      case 'session-ended':
        authenticate.sessions.end(message.session);
        return forwarding.endSession(message.session.id);
      case 'metrics-request':
        void metrics.registry.getMetricsAsJSON().then((json) => send({ type: 'metrics', id: message.id, metrics: json }));
        return;
    }
  });

  send({ type: 'ready' });

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    directory.close();
    sockets.destroyAll();
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    await Promise.all([forwarding.close(), leader.close()]);
    process.exit(0);
  };
  process.once('disconnect', () => void close());
  // The leader handles the signal for the cluster; a worker waits to be disconnected.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => {});

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(config.port, config.host, () => ok());
  });
  logger.debug('worker listening');
}
