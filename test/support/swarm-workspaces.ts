/**
 * Workspaces on the swarm test bed (scripts/swarm-bed.sh): runtime settings
 * for it, the container that stands where the gateway would (joined to
 * workspace networks, asked whether an editor answers), and clean-up by the
 * instance label on every node.
 */
import type { SwarmSettings } from '../../src/config/settings.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import type { Endpoint } from '../../src/runtimes/runtime.js';
import { dockerRuntimeSettings } from './engine.js';
import type { SwarmBed, SwarmNode as SwarmBedNode } from './swarm-bed.js';

/** Swarm runtime settings on the bed: the docker runtime's test settings, the bed's image, and every node's engine for files. */
export function swarmRuntimeSettings(bed: SwarmBed, instance: string, gatewayContainer: string, overrides: Partial<SwarmSettings> = {}): SwarmSettings {
  return {
    ...dockerRuntimeSettings({ instance, image: bed.images[0]! }),
    swarm_gateway_container: gatewayContainer,
    swarm_node_engines: bed.nodes.map((n) => ({ node: n.nodeId, engine: `unix://${n.socket}` })),
    swarm_volume_driver: undefined,
    ...overrides,
  };
}

/** A container on the manager that idles where the gateway would run: the runtime joins it to each workspace network. */
export async function standInGateway(bed: SwarmBed, instance: string): Promise<string> {
  const run = await bed.cli(bed.manager, [
    'run',
    '-d',
    '--name',
    `${instance}_gateway`,
    '--label',
    `${LABEL.instance}=${instance}`,
    '--label',
    `${LABEL.managed}=true`,
    bed.images[0]!,
    'node',
    '-e',
    'setInterval(() => {}, 1 << 30)',
  ]);
  if (run.code !== 0) throw new Error(`could not start the stand-in gateway: ${run.stderr}`);
  return run.stdout.trim();
}

/** Whether `endpoint` answers HTTP before the deadline, asked from inside `container` on the manager. */
export async function answersFrom(bed: SwarmBed, container: string, endpoint: Endpoint, deadline: number): Promise<boolean> {
  if (!('host' in endpoint)) return false;
  const script = `fetch('http://${endpoint.host}:${endpoint.port}/').then(() => process.exit(0), () => process.exit(1))`;
  while (Date.now() < deadline) {
    const probe = await bed.cli(bed.manager, ['exec', container, 'node', '-e', script], { timeoutMs: 10_000 });
    if (probe.code === 0) return true;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  return false;
}

/** Where a task runs: its bed node and its container there. */
export async function taskHome(bed: SwarmBed, taskId: string): Promise<{ node: SwarmBedNode; container: string }> {
  const task = (await bed.docker(bed.manager).getTask(taskId).inspect()) as { NodeID: string; Status: { ContainerStatus?: { ContainerID?: string } } };
  const node = bed.nodes.find((n) => n.nodeId === task.NodeID);
  const container = task.Status.ContainerStatus?.ContainerID;
  if (!node || !container) throw new Error(`task ${taskId} has no container on a bed node`);
  return { node, container };
}

/** Kills the container behind a task on its node, as a crash would. */
export async function killTask(bed: SwarmBed, taskId: string): Promise<void> {
  const { node, container } = await taskHome(bed, taskId);
  const killed = await bed.cli(node, ['kill', container]);
  if (killed.code !== 0) throw new Error(`docker kill failed: ${killed.stderr}`);
}

/** Removes the instance's services and networks (manager) and containers and volumes (every node). */
export async function cleanupSwarm(bed: SwarmBed, instance: string): Promise<void> {
  const filters = { label: [`${LABEL.instance}=${instance}`] };
  const manager = bed.docker(bed.manager);
  for (const s of await manager.listServices({ filters }))
    await manager
      .getService(s.ID)
      .remove()
      .catch(() => undefined);
  for (const node of bed.nodes) {
    const docker = bed.docker(node);
    const reachable = await docker.ping().then(
      () => true,
      () => false,
    );
    if (!reachable) continue;
    const containers = await docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  }
  // Networks go once no task is on them any more; volumes once no container uses them.
  for (let round = 0; round < 40; round++) {
    const networks = await manager.listNetworks({ filters });
    await Promise.all(
      networks.map((n) =>
        manager
          .getNetwork(n.Id)
          .remove()
          .catch(() => undefined),
      ),
    );
    let volumesLeft = 0;
    for (const node of bed.nodes) {
      const docker = bed.docker(node);
      const { Volumes: volumes } = await docker.listVolumes({ filters }).catch(() => ({ Volumes: [] as { Name: string }[] }));
      volumesLeft += volumes?.length ?? 0;
      await Promise.all(
        (volumes ?? []).map((v) =>
          docker
            .getVolume(v.Name)
            .remove()
            .catch(() => undefined),
        ),
      );
    }
    if (networks.length === 0 && volumesLeft === 0) return;
    await new Promise((ok) => setTimeout(ok, 250));
  }
}
