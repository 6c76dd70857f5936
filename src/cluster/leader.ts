import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createApp, type App } from '../app.js';
import type { Config } from '../config/load.js';
import type { MetricsJson } from '../metrics/metrics.js';
import { endpointKey } from '../proxy/upstream.js';
import type { Endpoint, Runtime } from '../runtimes/runtime.js';
import type { ToLeader, ToWorker } from './messages.js';
import { LEADER_SOCKET_ENV } from './worker.js';

/** How often the leader compares its endpoints with what the workers were told (ups; downs are sent at once). */
const SYNC_EVERY_MS = 100;
/** A worker that died is replaced after this long (not in a tight loop if it dies at start). */
const RESPAWN_DELAY_MS = 1000;
const METRICS_WAIT_MS = 2000;

export interface Leader {
  app: App;
  /** The public port the workers listen on (the chosen one when configured as 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * The cluster's leader (the primary process): the whole gateway as in a
 * single process, but listening on a private Unix socket in a folder only
 * this user can enter. It alone talks to the engine and makes every spawn,
 * stop and idle decision; the workers it forks listen on the public port,
 * and it tells them where running workspaces are and when to close a
 * workspace's WebSockets.
 */
export async function runLeader(config: Config, logger: Logger, runtime: Runtime): Promise<Leader> {
  const dir = mkdtempSync(join(tmpdir(), 'workspace-gateway-'));
  // Also when the leader crashes (an exception nobody caught still emits 'exit'), or a
  // folder with a dead socket is left behind for every crash. Sync: nothing else runs in 'exit'.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const removeDirAtExit = () => {
    try {
      removeDir();
    } catch {
      /* exiting anyway; a throw here would only hide why */
    }
  };
  process.once('exit', removeDirAtExit);
  const socketPath = join(dir, 'leader.sock');
  const metricsWaits = new Map<number, { replies: MetricsJson[]; expected: number; done: () => void }>();
  let nextMetricsId = 1;

  const app = createApp({
    config,
    logger,
    runtime,
    privateSocket: socketPath,
    workerMetrics: async () => {
      const workers = liveWorkers();
      const id = nextMetricsId++;
      const replies: MetricsJson[] = [];
      await new Promise<void>((done) => {
        const timer = setTimeout(done, METRICS_WAIT_MS);
        metricsWaits.set(id, { replies, expected: workers.length, done: () => (clearTimeout(timer), done()) });
        for (const w of workers) send(w, { type: 'metrics-request', id });
        if (workers.length === 0) done();
      });
      metricsWaits.delete(id);
      return replies;
    },
  });
  await app.listen();
  const manager = app.manager;

  const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };
  const broadcast = (message: ToWorker) => {
    for (const w of liveWorkers()) send(w, message);
  };

  // What the workers were told, to send only changes.
  const told = new Map<string, Endpoint>();
  const sync = () => {
    const seen = new Set<string>();
    for (const ws of manager.all()) {
      const endpoint = manager.endpointOf(ws.user);
      if (!endpoint) continue;
      seen.add(ws.user);
      const before = told.get(ws.user);
      if (before && endpointKey(before) === endpointKey(endpoint)) continue;
      told.set(ws.user, endpoint);
      broadcast({ type: 'endpoint', user: ws.user, endpoint });
    }
    for (const user of told.keys()) if (!seen.has(user)) withdraw(user);
  };
  const withdraw = (user: string) => {
    told.delete(user);
    broadcast({ type: 'endpoint', user });
  };
  const timer = setInterval(sync, SYNC_EVERY_MS);
  // A stopping or failed workspace takes no request from any worker from now on, and their tabs are told.
  manager.onStopping((user, reason) => {
    withdraw(user);
    broadcast({ type: 'close-sockets', user, code: 1001, reason: `workspace stopped (${reason})` });
  });
  app.onLogout((session) => broadcast({ type: 'session-ended', session: { id: session.id, startedAt: session.startedAt } }));
  manager.onDown((user, reason) => {
    withdraw(user);
    broadcast({ type: 'close-sockets', user, code: 1011, reason: `workspace ${reason}` });
  });

  const onMessage = (worker: Worker, message: ToLeader) => {
    switch (message.type) {
      case 'ready':
        send(worker, { type: 'endpoints', entries: [...told] });
        return;
      case 'activity':
        for (const [user, at, kind] of message.entries) manager.touch(user, kind, at);
        return;
      case 'unreachable':
        manager.unreachable(message.user);
        told.delete(message.user);
        return;
      case 'metrics': {
        const wait = metricsWaits.get(message.id);
        if (!wait) return;
        wait.replies.push(message.metrics);
        if (wait.replies.length >= wait.expected) wait.done();
        return;
      }
    }
  };

  let closing = false;
  const fork = () => {
    const worker = cluster.fork({ [LEADER_SOCKET_ENV]: socketPath });
    worker.on('message', (message: ToLeader) => onMessage(worker, message));
  };
  cluster.on('exit', (worker, code, signal) => {
    if (closing) return;
    logger.error({ worker: worker.id, code, signal }, 'gateway worker died; starting another');
    setTimeout(fork, RESPAWN_DELAY_MS).unref();
  });
  for (let i = 0; i < config.workers; i++) fork();
  const port = await new Promise<number>((ok) => {
    let listening = 0;
    const onListening = (_: Worker, address: { port: number }) => {
      if (++listening < config.workers) return;
      cluster.off('listening', onListening);
      ok(address.port);
    };
    cluster.on('listening', onListening);
  });
  logger.info({ host: config.host, port, workers: config.workers }, 'gateway listening');

  return {
    app,
    port,
    async close() {
      closing = true;
      clearInterval(timer);
      await Promise.all(
        liveWorkers().map(
          (w) =>
            new Promise<void>((done) => {
              w.once('exit', () => done());
              w.disconnect();
              setTimeout(() => (w.process.kill(), done()), 5000).unref();
            }),
        ),
      );
      await app.close();
      process.off('exit', removeDirAtExit);
      removeDir();
    },
  };
}
