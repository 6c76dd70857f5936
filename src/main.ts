#!/usr/bin/env node
import cluster from 'node:cluster';
import { createApp } from './app.js';
import { configFromCommandLine } from './cli.js';
import { LEADER_SOCKET_ENV, runLeader } from './cluster/leader.js';
import { runWorker } from './cluster/worker.js';
import { ConfigError } from './config/load.js';
import { createLogger } from './log.js';
import { createRuntime } from './runtimes/create.js';

/** Production entry: configuration from GATEWAY_* and --config; never falls back silently. */
const config = configFromCommandLine(process.argv.slice(2), process.env);
try {
  const logger = createLogger(config.log_level);
  if (config.workers > 1 && cluster.isWorker) {
    await runWorker(config, process.env[LEADER_SOCKET_ENV] ?? '', logger);
  } else {
    const runtime = await createRuntime(config, logger);
    let running: { close(): Promise<void> };
    if (config.workers > 1) {
      running = await runLeader(config, logger, runtime);
    } else {
      const app = createApp({ config, logger, runtime });
      await app.listen();
      running = app;
    }
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        logger.info({ signal }, 'shutting down; workspaces keep running');
        running.close().finally(() => process.exit(0));
      });
    }
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `workspace-gateway failed to start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
