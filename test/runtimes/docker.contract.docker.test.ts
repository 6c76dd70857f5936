import Docker from 'dockerode';
import { pino } from 'pino';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.js';
import { cleanupInstance, demoImage, dockerCli, dockerRuntimeSettings, requireEngine, uniqueInstance } from '../support/engine.js';
import { runtimeContract } from '../support/runtime-contract.js';

const logger = pino({ level: 'silent' });
const { instance } = uniqueInstance('docker-contract');

runtimeContract('docker', async () => {
  await requireEngine();
  const settings = dockerRuntimeSettings({ instance, image: await demoImage() });
  return {
    runtime: new DockerRuntime({ settings, logger }),
    reopen: () => new DockerRuntime({ settings, logger }),
    reopenFinds: 'their workspaces',
    engine: { down: () => new DockerRuntime({ settings, logger, docker: new Docker({ socketPath: `/nonexistent/${instance}/docker.sock` }) }) },
    crash: async (info) => {
      const killed = await dockerCli(['kill', info.id!]);
      if (killed.code !== 0) throw new Error(`docker kill failed: ${killed.stderr}`);
    },
    cleanup: () => cleanupInstance(instance),
  };
});
