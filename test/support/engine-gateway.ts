/** A gateway on the real engine, scoped to one test file's instance label. */
import { LABEL } from '../../src/runtimes/docker.js';
import { engine, type UniqueInstance } from './engine.js';
import type { TestGateway } from './gateway.js';

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

export async function containersOf(instance: string, user: string) {
  return engine().listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } });
}

export async function runningInstancesOf(_gw: TestGateway, instance: string, user: string): Promise<number> {
  return (await containersOf(instance, user)).length;
}
