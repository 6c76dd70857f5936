/** A gateway on the real engine, scoped to one test file's instance label. */
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { dockerGatewayEnv, dockerRuntimeSettings, engine, type UniqueInstance } from './engine.js';

/** GATEWAY_* settings for the docker runtime with `image` and the test's own network: dockerRuntimeSettings, as variables. */
export function dockerEnv({ instance, prefix }: UniqueInstance, image: string): Record<string, string> {
  return dockerGatewayEnv(dockerRuntimeSettings({ instance, container_prefix: prefix, image }));
}

/** Every container of `user` in the instance, running or not. */
export async function containersOf(instance: string, user: string) {
  return engine().listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } });
}
