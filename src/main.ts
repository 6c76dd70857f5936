#!/usr/bin/env node
import { createApp } from './app.js';
import { configFromCommandLine } from './cli.js';
import { ConfigError } from './config/load.js';
import { createLogger } from './log.js';
import { createRuntime } from './runtimes/create.js';

/** Production entry: configuration from GATEWAY_* and --config; never falls back silently. */
const config = configFromCommandLine(process.argv.slice(2), process.env);
try {
  const logger = createLogger(config.log_level);
  const app = createApp({ config, logger, runtime: await createRuntime(config, logger) });
  await app.listen();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app.logger.info({ signal }, 'shutting down; workspaces keep running');
      app.close().finally(() => process.exit(0));
    });
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `workspace-gateway failed to start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
