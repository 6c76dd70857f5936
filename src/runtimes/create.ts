import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { ConfigError } from '../config/load.js';
import { DockerRuntime } from './docker.js';
import { ProcessRuntime } from './process.js';
import type { Runtime } from './runtime.js';

export function createRuntime(config: Config, logger: Logger): Runtime {
  switch (config.runtime) {
    case 'docker':
      return new DockerRuntime({ config, logger });
    case 'process':
      logger.warn('process runtime: workspaces are plain local processes, NOT isolated from each other or from this machine; use it to try the gateway, never for students');
      return new ProcessRuntime(config, logger);
    case 'swarm':
      throw new ConfigError(['GATEWAY_RUNTIME: the swarm runtime is not part of this release yet; use docker or process']);
  }
}
