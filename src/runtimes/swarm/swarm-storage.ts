import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { SwarmSettings } from '../../config/settings.js';
import { GatewayError } from '../../errors.js';
import { readWorkspaceArchive, writeWorkspaceArchive } from '../docker/container-archive.js';
import { PROJECT_DIR } from '../docker/names.js';
import type { EngineClient } from '../engine/engine-client.js';
import { LABEL, ownedLabels } from '../engine/labels.js';
import type { RuntimeStorage } from '../runtime.js';
import { noWorkspaceData, parseOwner } from '../workspace-tar.js';
import { serviceName, volumeName } from './names.js';
import { retrying } from './retrying.js';
import type { NodeEngines } from './node-engines.js';
import type { SwarmNode } from './swarm-objects.js';
import { currentTask, pinnedNode, HOST_UNAVAILABLE } from './task-state.js';
import type { WorkspaceServices } from './workspace-services.js';

/** How long removing a volume waits for the container of a removed service to go. */
const VOLUME_IN_USE_WAIT_MS = 20_000;

/** Where a user's volume is: its node, and that node's engine. */
interface VolumeHome {
  node: SwarmNode;
  engine: EngineClient;
}

export class NodeEngineMissingError extends GatewayError {
  constructor(node: string) {
    super('engine_error', 502, `the workspace's files are on node ${node}, and the gateway has no engine for it (GATEWAY_SWARM_NODE_ENGINES)`);
  }
}

/**
 * A workspace's files on a swarm: the volume on its node, read and written
 * through that node's engine with a container that is created for the call
 * (never started, no network) and removed after it. A user without a volume
 * gets one on the node chosen by `place`, which pins their service there, so
 * restored files and the workspace meet.
 */
export class SwarmStorage implements RuntimeStorage {
  constructor(
    private readonly services: WorkspaceServices,
    private readonly engines: NodeEngines,
    private readonly settings: SwarmSettings,
    private readonly logger: Logger,
    /** Picks a node for a new user's data and pins their service (created at 0 replicas if absent) there. */
    private readonly place: (user: string) => Promise<SwarmNode>,
  ) {}

  async exists(user: string): Promise<boolean> {
    const home = await this.home(user);
    return home !== undefined && (await this.volumeOn(home.engine, user));
  }

  async backup(user: string): Promise<Readable> {
    const home = await this.home(user);
    if (!home || !(await this.volumeOn(home.engine, user))) throw noWorkspaceData();
    const container = await this.filesContainer(home.engine, user);
    const archive = await readWorkspaceArchive(home.engine, container).catch(async (err: unknown) => {
      await this.removeContainer(home.engine, container);
      throw err;
    });
    archive.once('close', () => void this.removeContainer(home.engine, container));
    return archive;
  }

  async restore(user: string, archive: Readable): Promise<void> {
    await this.restoreInto((await this.home(user)) ?? this.homeOn(await this.place(user)), user, archive);
  }

  /**
   * Copies the user's files from the node holding them to `to` and removes
   * them there; resolves with the node they came from (undefined when the
   * user had no files). Re-pinning the service is the caller's.
   */
  async move(user: string, to: SwarmNode): Promise<SwarmNode | undefined> {
    const from = await this.home(user);
    if (!from || from.node.ID === to.ID || !(await this.volumeOn(from.engine, user))) return undefined;
    await this.restoreInto(this.homeOn(to), user, await this.backup(user));
    await this.removeVolume(user, from.node.ID);
    return from.node;
  }

  private async restoreInto(home: VolumeHome, user: string, archive: Readable): Promise<void> {
    const container = await this.filesContainer(home.engine, user);
    try {
      await writeWorkspaceArchive(home.engine, container, archive, parseOwner(this.settings.workspace_uid), this.logger.child({ user }));
    } finally {
      await this.removeContainer(home.engine, container);
    }
  }

  /** Removes the user's volume on its node (its service is gone, so its container soon is too). */
  async removeVolume(user: string, nodeId: string | undefined): Promise<void> {
    const home = nodeId ? this.homeOn(await this.nodeById(nodeId)) : await this.search(user);
    if (!home) return;
    await this.removeEndedContainers(home.engine, user);
    const volume = home.engine.docker.getVolume(volumeName(this.settings, user));
    // 409: still in use by the container swarm is removing.
    await retrying(() => home.engine.find('remove volume', (abortSignal) => volume.remove({ abortSignal })), VOLUME_IN_USE_WAIT_MS, [409]);
  }

  /** The node holding the user's volume: the service's pin, else where its task runs, else a search of the nodes. */
  private async home(user: string): Promise<VolumeHome | undefined> {
    const service = await this.services.inspect(user);
    let nodeId = service && pinnedNode(service);
    if (service && !nodeId) nodeId = currentTask(service, await this.services.tasks([service]))?.NodeID;
    return nodeId ? this.homeOn(await this.nodeById(nodeId)) : this.search(user);
  }

  private async search(user: string): Promise<VolumeHome | undefined> {
    for (const node of (await this.services.nodes()).values()) {
      const engine = this.engines.of(node);
      if (engine && node.Status?.State === 'ready' && (await this.volumeOn(engine, user))) return { node, engine };
    }
    return undefined;
  }

  private async nodeById(id: string): Promise<SwarmNode> {
    const node = (await this.services.nodes()).get(id);
    if (!node || node.Status?.State !== 'ready')
      throw new GatewayError('engine_unavailable', 503, `The workspace's files cannot be reached now: ${HOST_UNAVAILABLE}.`);
    return node;
  }

  private homeOn(node: SwarmNode): VolumeHome {
    const engine = this.engines.of(node);
    if (!engine) throw new NodeEngineMissingError(node.Description?.Hostname ?? node.ID);
    return { node, engine };
  }

  /** Swarm keeps the containers of ended tasks (its task history), and they hold the volume: removed first. */
  private async removeEndedContainers(engine: EngineClient, user: string): Promise<void> {
    const labels = [`${LABEL.instance}=${this.settings.instance}`, `${LABEL.user}=${user}`];
    const ended = await engine.call('list ended containers', (abortSignal) =>
      engine.docker.listContainers({ all: true, filters: { label: labels, status: ['exited', 'created', 'dead'] }, abortSignal }),
    );
    for (const c of ended) await this.removeContainer(engine, c.Id);
  }

  private async volumeOn(engine: EngineClient, user: string): Promise<boolean> {
    const volume = engine.docker.getVolume(volumeName(this.settings, user));
    return (await engine.find('inspect volume', (abortSignal) => volume.inspect({ abortSignal }))) !== undefined;
  }

  /** A container on the node with the user's volume mounted (created with the volume when there is none), not started. */
  private async filesContainer(engine: EngineClient, user: string): Promise<string> {
    const labels = ownedLabels(this.settings.instance, { user, image: this.settings.image });
    const name = volumeName(this.settings, user);
    await engine.call('create volume', (abortSignal) => engine.docker.createVolume({ Name: name, Labels: labels, abortSignal }));
    const container = await engine.call('create files container', (abortSignal) =>
      engine.docker.createContainer({
        name: `${serviceName(this.settings, user)}_files_${randomBytes(3).toString('hex')}`,
        Image: this.settings.image,
        User: this.settings.workspace_uid,
        Labels: labels,
        HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: PROJECT_DIR }], NetworkMode: 'none', CapDrop: ['ALL'] },
        abortSignal,
      }),
    );
    return container.id;
  }

  private async removeContainer(engine: EngineClient, id: string): Promise<void> {
    await engine
      .find('remove files container', (abortSignal) => engine.docker.getContainer(id).remove({ force: true, abortSignal }))
      .catch((err: unknown) => this.logger.warn({ err, container: id }, 'could not remove a files container'));
  }
}
