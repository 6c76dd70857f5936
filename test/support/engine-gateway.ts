/** A gateway on the real engine, scoped to one test file's instance label. */
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { engine, type UniqueInstance } from './engine.js';

/** GATEWAY_* settings for the docker runtime with the demo image and the test's own network. */
export function dockerEnv({ instance, prefix }: UniqueInstance, image: string): Record<string, string> {
  return {
    GATEWAY_RUNTIME: 'docker',
    GATEWAY_IMAGE: image,
    GATEWAY_INSTANCE: instance,
    GATEWAY_CONTAINER_PREFIX: prefix,
    GATEWAY_NETWORK: `wgtest_${instance}`,
    GATEWAY_MEMORY_LIMIT: '256m',
    GATEWAY_PIDS_LIMIT: '128',
  };
}

/** Every container of `user` in the instance, running or not. */
export async function containersOf(instance: string, user: string) {
  return engine().listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } });
}
