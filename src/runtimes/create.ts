import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Runtime } from './runtime.js';

/**
 * The configured runtime. Each is loaded only when chosen: dockerode alone
 * (through ssh2's asm.js heap) costs a gateway without Docker about 14 MiB of RSS.
 */
export async function createRuntime(config: Config, logger: Logger): Promise<Runtime> {
  switch (config.runtime) {
    case 'docker': {
      const { DockerRuntime } = await import('./docker/docker-runtime.js');
      return new DockerRuntime({ settings: config, logger });
    }
    case 'process': {
      logger.warn(
        'process runtime: workspaces are plain local processes, NOT isolated from each other or from this machine; use it to try the gateway, never for students',
      );
      const { ProcessRuntime } = await import('./process/process-runtime.js');
      return new ProcessRuntime({ settings: config, logger });
    }
    case 'swarm': {
      const { SwarmRuntime } = await import('./swarm/swarm-runtime.js');
      return new SwarmRuntime({ settings: config, logger });
    }
  }
}
