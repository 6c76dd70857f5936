#!/usr/bin/env node
import { serve } from './app.js';
import { configFromCommandLine } from './cli.js';
import { ConfigError } from './config/load.js';
import { createLogger } from './log.js';
import { createRuntime } from './runtimes/create.js';

/** Production entry: configuration from GATEWAY_* and --config; never falls back silently. */
const config = configFromCommandLine(process.argv.slice(2), process.env);
try {
  const logger = createLogger(config.log_level);
  const serving = await serve(config, logger, () => createRuntime(config, logger));
  // A cluster worker waits to be disconnected by its leader, which handles the signals for the cluster.
  if (serving.port !== undefined) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        logger.info({ signal }, 'shutting down; workspaces keep running');
        serving.close().finally(() => process.exit(0));
      });
    }
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `workspace-gateway failed to start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
